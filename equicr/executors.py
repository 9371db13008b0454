"""The two ways work runs "here or on Ray", side by side, with one way to join Ray.

- :func:`map_with_actors` maps a callable class over work items on a Ray Data actor pool, or as one
  instance in this process. Declouding (tiles) and evaluation (patches) both load a model once per
  actor and then process batches of small work descriptions (not pixels: each actor reads and
  writes its own data). Every job that runs such a pool takes the same :class:`ActorPool` settings
  (``--actors``, ``--cpus-per-actor``, ``--gpus-per-actor``, ``--ray/--no-ray``; see :mod:`equicr.cli`).
- :func:`run_tasks` calls a function on each of a list of arguments, as Ray tasks (one CPU each)
  or here in order: ingest's unit of work, which loads nothing.

Both paths give the same results; the in-process path is for small jobs and tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from equicr.errors import UserError
from equicr.logs import quiet_known_noise

T = TypeVar("T")

#: Jobs that choose on their own (``--ray`` not given) run work of at least this many items on Ray.
AUTO_RAY_MIN_ITEMS = 512


@dataclass(frozen=True)
class ActorPool:
    """How many actors run a job, what each one gets, and whether Ray runs them at all."""

    actors: int = 1  # actors, each loading its own model
    cpus_per_actor: int = 1  # CPU cores per actor, used as its torch threads
    gpus_per_actor: float = 0  # GPUs per actor; 0 runs on the CPU
    use_ray: bool = True  # False runs one instance in this process

    def __post_init__(self) -> None:
        if self.actors < 1 or self.cpus_per_actor < 1 or self.gpus_per_actor < 0:
            raise UserError(
                f"an actor pool needs at least 1 actor of at least 1 CPU and no negative GPUs; got {self.actors} "
                f"actor(s) of {self.cpus_per_actor} CPU(s) and {self.gpus_per_actor} GPU(s)"
            )

    @property
    def device(self) -> str:
        """Where each actor runs its model."""
        return "cuda" if self.gpus_per_actor else "cpu"


def claim_cores(threads: int | None) -> None:
    """Let torch use the cores Ray gave this actor (Ray otherwise leaves an actor's torch one thread)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def map_with_actors(
    items: list[dict], actor_class: type, actor_args: dict, batch_size: int, pool: ActorPool
) -> Iterator[dict[str, np.ndarray]]:
    """Output batches of ``actor_class(**actor_args, threads=...)`` called on batches of ``items``.

    On Ray (the cluster ``ray.init()`` joins) the pool has ``pool.actors`` actors, each with its
    cores (torch threads) and GPUs; batches come back in completion order. In this process one
    instance runs the batches in order with this process's threads.
    """
    if not items:
        return
    if not pool.use_ray:
        actor = actor_class(**actor_args, threads=None)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield actor({key: np.array([item[key] for item in chunk]) for key in chunk[0]})
        return
    init_ray()
    import ray.data  # Ray Data sets up its own loggers on import: quieted after that

    quiet_known_noise()
    dataset = ray.data.from_items(items).map_batches(
        actor_class, fn_constructor_kwargs={**actor_args, "threads": pool.cpus_per_actor}, batch_size=batch_size,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=pool.actors), num_cpus=pool.cpus_per_actor,
        num_gpus=pool.gpus_per_actor or None,
    )  # fmt: skip
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")


def run_tasks(function: Callable[..., T], calls: list[tuple], use_ray: bool) -> Iterator[T]:
    """``function(*call)`` for every call, here in order or as Ray tasks (one CPU each) in completion order."""
    if not use_ray:
        for call in calls:
            yield function(*call)
        return
    ray = init_ray()
    remote = ray.remote(num_cpus=1)(function)
    pending = [remote.remote(*call) for call in calls]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


#: Ray Train's switch for its preemption watcher (an actor polling for drained nodes).
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"


def init_ray():
    """Join the Ray cluster ``RAY_ADDRESS`` names, else start an embedded one; return ``ray``.

    ``ray job submit`` sets ``RAY_ADDRESS`` for the jobs it runs; for a cluster started with ``ray
    start`` on this machine, set ``RAY_ADDRESS=auto``. An embedded instance is this job's alone, but
    Ray's ports listen on every interface, so it starts with Ray's token authentication: a fresh
    random token in this process's environment, which its workers inherit and nothing else knows
    (unless ``RAY_AUTH_MODE`` says otherwise). A cluster's own security is its configuration's
    (``cluster.yaml``, ``jobs/cluster_security_group.py``).
    """
    import ray

    if ray.is_initialized():
        return ray
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return ray
    if "RAY_AUTH_MODE" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # Ray turns token mode on for a new local instance
    # One node that nothing drains: Ray Train's preemption watcher has nothing to watch here, and its
    # actor makes Ray's core print an "E core_worker.cc ... max_restarts > 0" line on every training run.
    # On a cluster (RAY_ADDRESS) it stays on, as it does wherever the user set the variable.
    os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
    ray.init(address="local")
    quiet_known_noise()
    return ray
