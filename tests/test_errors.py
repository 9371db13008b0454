"""The error policy: a user's error is one line and exit 2, a bug keeps its traceback, Ctrl-C is 130."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from equicr.cli import run_job
from equicr.errors import CRASHED, INTERRUPTED, USAGE_ERROR, UserError, user_error_line
from equicr.lease import exclusive_writer, lease_location

JOBS_DIR = Path(__file__).resolve().parents[1]


def test_a_user_error_is_one_line_and_exit_2(capsys):
    def main(argv):
        raise UserError("scene x: band B04 has shape (3, 3), expected (256, 256)")

    assert run_job(main, []) == USAGE_ERROR
    assert capsys.readouterr().err == "error: scene x: band B04 has shape (3, 3), expected (256, 256)\n"


def test_a_bugs_value_error_keeps_its_traceback_without_credentials(capsys):
    def main(argv):
        location = "s3://AKIAKEY:SECRET@bucket/scenes.zarr"  # a traceback quotes the arguments it failed on
        np.reshape(np.arange(5), (2, 2), order=location)  # numpy's own ValueError: a bug, not the user's input
        return 0

    assert run_job(main, []) == CRASHED
    printed = capsys.readouterr().err
    assert printed.startswith("Traceback") and "ValueError" in printed and "s3://bucket/scenes.zarr" in printed
    assert "SECRET" not in printed and "AKIAKEY" not in printed


def test_an_os_error_wrapped_by_a_library_names_its_path():
    try:
        try:
            raise PermissionError(13, "Permission denied", "/runs/demo/checkpoint_000001")
        except PermissionError as inner:
            raise RuntimeError("checkpoint manager failed") from inner
    except RuntimeError as outer:
        line = user_error_line(outer)
    assert line == "error: /runs/demo/checkpoint_000001: Permission denied"
    assert user_error_line(RuntimeError("no OSError behind it")) is None


def test_ctrl_c_releases_leases_and_exits_130(tmp_path, capsys):
    collection = tmp_path / "c.zarr"

    def main(argv):
        with exclusive_writer(collection, "ingest"):
            assert os.path.exists(lease_location(collection, "ingest"))
            raise KeyboardInterrupt

    assert run_job(main, []) == INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
    assert not os.path.exists(lease_location(collection, "ingest"))


def _read_only_command(folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run where ``folder`` is read-only: by permissions, or for root by a private read-only bind mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return argv
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: no way to make a folder read-only")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace here: {probe.stderr.decode()[-200:]}")
    script = f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", *argv]


def test_a_read_only_output_folder_is_one_line_and_exit_2(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    out = folder / "synthetic.zarr"
    argv = [sys.executable, "jobs/ingest.py", "synthetic", "--count", "2", "--size", "16", "--out", str(out)]
    result = subprocess.run(_read_only_command(folder, argv), cwd=JOBS_DIR, capture_output=True, text=True)
    assert result.returncode == USAGE_ERROR, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(folder) in last, last
    assert not out.exists()
