"""Shared fixtures: real SEN12MS-CR patches from ../shared/data and small model configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from equicr.data.rasters import read_raster
from equicr.data.sen12mscr import index_tree
from equicr.paths import REAL_TRIPLETS_DIR, SEN12MSCR_MINI_DIR


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mini_dir() -> Path:
    if not SEN12MSCR_MINI_DIR.is_dir():
        pytest.fail(f"real test patches missing: {SEN12MSCR_MINI_DIR} (../shared/data must sit beside the checkout)")
    return SEN12MSCR_MINI_DIR


@pytest.fixture(scope="session")
def real_triplet(mini_dir: Path) -> dict[str, np.ndarray]:
    """One real georeferenced triplet as arrays: s1 (dB), s2_cloudy and s2 (DN)."""
    paths = index_tree(mini_dir)[0][0].paths
    return {kind: read_raster(path, kind).data for kind, path in paths.items()}


@pytest.fixture(scope="session")
def real_triplet_paths() -> list[dict[str, Path]]:
    """The ten non-georeferenced real triplets, as paths per role."""
    names = sorted(path.name for path in (REAL_TRIPLETS_DIR / "s1").glob("*.tif"))
    return [{kind: REAL_TRIPLETS_DIR / kind / name for kind in ("s1", "s2_cloudy", "s2")} for name in names]


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory):
    """A private local Ray instance for the session (never `ray stop`: that kills every Ray process here)."""
    import os

    import ray

    temporary = tmp_path_factory.mktemp("ray")
    os.environ["RAY_TMPDIR"] = str(temporary)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(temporary), log_to_driver=False)
    yield ray
    ray.shutdown()
