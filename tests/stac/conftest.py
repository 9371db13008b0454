"""STAC fixtures: the seeded catalog of real patches (tests/fixtures/make_stac_catalog.py) and its ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from equicr.ingest.stac import ingest_stac
from tests.fixtures.make_stac_catalog import write_catalog
from tests.fixtures.paths import SHARED_DATA_DIR

SHARED = SHARED_DATA_DIR


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stac") / "catalog"
    write_catalog(SHARED, out, seed=0)
    return out


@pytest.fixture(scope="session")
def ingested(catalog_dir, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("scenes") / "scenes.zarr"
    return out, ingest_stac(str(catalog_dir / "catalog.json"), str(out), progress=False)
