"""The ingest command line, run as a user runs it."""

import subprocess
import sys

from equicr.data.collection import open_collection
from equicr.paths import REPO_ROOT


def run(*args):
    return subprocess.run([sys.executable, "jobs/ingest.py", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("sen12mscr", "scenes", "synthetic"))


def test_ingest_real_tree_then_rerun_skips(mini_dir, tmp_path):
    out = tmp_path / "mini.zarr"
    first = run("sen12mscr", "--root", str(mini_dir), "--out", str(out), "--splits", "test")
    assert first.returncode == 0, first.stderr
    assert "1 written, 0 already complete, 0 failed" in first.stdout
    assert list(open_collection(out, "patches")["patch_id"][:]) == ["ROIs1970_fall_139_p839"]
    second = run("sen12mscr", "--root", str(mini_dir), "--out", str(out), "--splits", "test")
    assert "0 written, 1 already complete" in second.stdout


def test_missing_root_fails_with_its_name(tmp_path):
    result = run("sen12mscr", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.zarr"))
    assert result.returncode == 2 and "error: " in result.stderr and "nowhere is not a folder" in result.stderr
    assert "Traceback" not in result.stderr
