"""Map a callable class over work items: on a Ray Data actor pool, or as one instance in this process.

Declouding (tiles) and evaluation (patches) both load a model once per actor and then process
batches of small work descriptions (not pixels: each actor reads and writes its own data). Both
paths give the same output batches; the in-process path is for small jobs and tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def claim_cores(threads: int | None) -> None:
    """Let torch use the cores Ray gave this actor (Ray otherwise leaves an actor's torch one thread)."""
    if threads:
        torch.set_num_threads(threads)


def map_with_actors(
    items: list[dict],
    actor_class: type,
    actor_args: dict,
    batch_size: int,
    pool_size: int = 1,
    cpus_per_actor: int = 1,
    gpus_per_actor: float = 0,
    use_ray: bool = True,
) -> Iterator[dict[str, np.ndarray]]:
    """Output batches of ``actor_class(**actor_args, threads=...)`` called on batches of ``items``.

    On Ray (the cluster ``ray.init()`` joins) the pool has ``pool_size`` actors with
    ``cpus_per_actor`` cores (torch threads) and ``gpus_per_actor`` GPUs each; batches come back in
    completion order. In this process one instance runs the batches in order with this process's threads.
    """
    if not items:
        return
    if not use_ray:
        actor = actor_class(**actor_args, threads=None)
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield actor({key: np.array([item[key] for item in chunk]) for key in chunk[0]})
        return
    import ray

    ray.init(ignore_reinit_error=True)
    dataset = ray.data.from_items(items).map_batches(
        actor_class, fn_constructor_kwargs={**actor_args, "threads": cpus_per_actor}, batch_size=batch_size,
        batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=pool_size), num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor or None,
    )  # fmt: skip
    yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
