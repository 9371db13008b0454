"""One mapper for declouding and evaluation: the same batches in this process and on a Ray Data actor pool."""

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
