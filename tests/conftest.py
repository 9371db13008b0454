"""Shared fixtures: real SEN12MS-CR patches from ../shared/data and small model configs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from equicr.data.rasters import read_raster
from equicr.data.sen12mscr import index_tree
from tests.fixtures.paths import REAL_TRIPLETS_DIR, SEN12MSCR_MINI_DIR, SHARED_DATA_DIR

#: The bucket the loopback S3 server holds.
S3_BUCKET = "equicr-test"
#: The longest test files (2-5 minutes each; `--durations` lists them), run first: with `make test`'s
#: two workers and one file per worker, they start at once on different workers and the short files
#: fill in around them, instead of two long ones meeting at the end.
LONGEST_FILES = (
    "tests/experiments/test_runner.py",
    "tests/experiments/test_results.py",
    "tests/test_object_storage.py",
    "tests/training/test_launch.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    """Put the longest test files first, in the order of :data:`LONGEST_FILES`; the rest keep their order."""
    root = Path(config.rootpath)

    def rank(item) -> int:
        path = Path(item.fspath).relative_to(root).as_posix()
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the order within a file and among the other files is unchanged


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
def s3_bucket():
    """A bucket on a real S3-compatible server (moto's server mode) on loopback, as an ``s3://`` URI.

    The AWS environment variables point every client (s3fs for zarr, pyarrow for Ray Train, boto3)
    at the server, with dummy credentials, for the whole session.
    """
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    environment = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }  # fmt: skip
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    boto3.client("s3").create_bucket(Bucket=S3_BUCKET)
    yield f"s3://{S3_BUCKET}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory, s3_bucket):
    """A private local Ray instance for the session (never `ray stop`: that kills every Ray process here).

    Started after the loopback S3 server, so Ray's workers inherit its endpoint as a cluster's nodes
    inherit theirs.
    """
    import ray

    temporary = tmp_path_factory.mktemp("ray")
    os.environ["RAY_TMPDIR"] = str(temporary)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(temporary), log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    """The seeded static STAC catalog of real patches as per-band COGs (tests/fixtures/make_stac_catalog.py)."""
    from tests.fixtures.make_stac_catalog import write_catalog

    out = tmp_path_factory.mktemp("stac") / "catalog"
    write_catalog(SHARED_DATA_DIR, out, seed=0)
    return out


@pytest.fixture(scope="session")
def ingested(catalog_dir, tmp_path_factory) -> tuple[Path, object]:
    """That catalog ingested as scenes: (collection path, ingest report)."""
    from equicr.ingest.stac import ingest_stac

    out = tmp_path_factory.mktemp("scenes") / "scenes.zarr"
    return out, ingest_stac(str(catalog_dir / "catalog.json"), str(out), progress=False)


@pytest.fixture(scope="session")
def real_test_bench(tmp_path_factory, mini_dir) -> dict[str, str]:
    """The real-cloud test bench of ../shared/data as collections (real-clouds, triplets, do-no-harm)."""
    from equicr.data.real import load_real_data
    from equicr.ingest.geotiffs import write_test_bench

    return write_test_bench(load_real_data(mini_dir.parent), tmp_path_factory.mktemp("testbench"))
