"""The package finds what it ships inside itself, and real data only where the user names it."""

from pathlib import Path

import equicr
from equicr.paths import REAL_DATA_ENV, SHIPPED_BACKGROUNDS_DIR, SHIPPED_MODEL, real_data_dir


def test_shipped_files_lie_inside_the_package():
    package = Path(equicr.__file__).parent
    assert SHIPPED_MODEL.is_file() and SHIPPED_MODEL.is_relative_to(package)
    assert any(SHIPPED_BACKGROUNDS_DIR.rglob("*.tif")) and SHIPPED_BACKGROUNDS_DIR.is_relative_to(package)


def test_real_data_is_only_where_the_user_names_it(monkeypatch, tmp_path):
    monkeypatch.delenv(REAL_DATA_ENV, raising=False)
    assert real_data_dir() is None
    monkeypatch.setenv(REAL_DATA_ENV, str(tmp_path))
    assert real_data_dir() == tmp_path


def test_nothing_in_the_package_reads_a_checkout_or_the_shared_folder():
    package = Path(equicr.__file__).parent
    offenders = [str(p) for p in package.rglob("*.py") if "REPO_ROOT" in p.read_text() or "../shared" in p.read_text()]
    assert offenders == []
