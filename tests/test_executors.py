"""One mapper for declouding and evaluation: the same batches in this process and on a Ray Data actor pool."""

import os

import numpy as np
import pytest

from equicr.executors import ActorPool, map_with_actors


class Doubler:
    """A callable class as Ray Data runs one: built once, then called on batches."""

    def __init__(self, factor: int, threads: int | None = None) -> None:
        self.factor, self.threads = factor, threads

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"item": batch["item"], "doubled": batch["item"] * self.factor}


def collect(pool: ActorPool) -> dict[int, int]:
    items = [{"item": i} for i in range(7)]
    out = {}
    for batch in map_with_actors(items, Doubler, {"factor": 2}, batch_size=3, pool=pool):
        out.update(zip(batch["item"].tolist(), batch["doubled"].tolist(), strict=True))
    return out


@pytest.mark.slow
def test_in_process_and_on_ray_give_the_same_results(local_ray):
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import a test module
    expected = {i: 2 * i for i in range(7)}
    assert collect(ActorPool(use_ray=False)) == expected
    assert collect(ActorPool(actors=2, use_ray=True)) == expected


def test_nothing_to_do_starts_nothing():
    assert list(map_with_actors([], Doubler, {"factor": 2}, 3, ActorPool(use_ray=True))) == []


def test_a_pool_refuses_impossible_sizes():
    with pytest.raises(ValueError, match="at least 1 actor"):
        ActorPool(actors=0)
    with pytest.raises(ValueError, match="no negative GPUs"):
        ActorPool(gpus_per_actor=-1)
    assert ActorPool(gpus_per_actor=1).device == "cuda" and ActorPool().device == "cpu"


EMBEDDED_RAY_PROBE = """
import os, subprocess, sys
from equicr.executors import init_ray

ray = init_ray()
address = ray.get_runtime_context().gcs_address
outsider = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}  # knows the address, not the token
join = f"import ray; ray.init(address={address!r}); print('JOINED')"
result = subprocess.run([sys.executable, "-c", join], env=outsider, capture_output=True, text=True, timeout=120)
print("outsider joined" if "JOINED" in result.stdout else "outsider refused")
print("token in home" if os.path.exists(os.path.expanduser("~/.ray/auth_token")) else "no token in home")
"""


def test_an_embedded_ray_admits_only_its_own_job():
    """Ray listens on every interface: the embedded instance a job starts requires a token only the job holds."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as folder:  # Ray's socket paths must be short
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(RAY_TMPDIR=folder, HOME=folder)  # a home without ~/.ray/auth_token
        result = subprocess.run([sys.executable, "-c", EMBEDDED_RAY_PROBE], env=env, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "outsider refused" in result.stdout and "no token in home" in result.stdout
