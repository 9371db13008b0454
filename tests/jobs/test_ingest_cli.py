"""The ingest command line, run as a user runs it."""

import subprocess
import sys

import pytest

from equicr.data.collection import open_collection
from tests.fixtures.paths import REPO_ROOT


def run(*args):
    return subprocess.run([sys.executable, "jobs/ingest.py", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("sen12mscr", "scenes", "synthetic"))


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_bad_scene_name_is_refused_before_anything_is_touched(mini_dir, tmp_path):
    """An empty name once addressed the collection's root with overwrite=True and deleted every scene."""
    from equicr.data.scenes import scene_names

    s1 = next(mini_dir.glob("ROIs1970_fall_s1/*/*.tif"))
    s2 = next(mini_dir.glob("ROIs1970_fall_s2_cloudy/*/*.tif"))
    out = tmp_path / "scenes.zarr"
    assert run("scenes", "--pair", "kept", str(s1), str(s2), "--out", str(out)).returncode == 0
    for bad in ("", "..", "a/b", "/abs", "sp ace"):
        result = run("scenes", "--pair", bad, str(s1), str(s2), "--out", str(out))
        assert result.returncode == 2 and "is not allowed" in result.stderr, (bad, result.stderr[-500:])
        assert scene_names(open_collection(out, "scenes")) == ["kept"]


def test_an_interrupted_scene_is_rewritten_alone_and_a_complete_one_never(mini_dir, tmp_path):
    import numpy as np
    import pytest

    from equicr.data.collection import CollectionError
    from equicr.data.rasters import read_raster
    from equicr.data.scenes import scene_names
    from equicr.ingest.scenes import create_scenes, write_scene

    s1 = read_raster(next(mini_dir.glob("ROIs1970_fall_s1/*/*.tif")), "s1")
    s2 = read_raster(next(mini_dir.glob("ROIs1970_fall_s2_cloudy/*/*.tif")), "s2_cloudy")
    collection = create_scenes(tmp_path / "s.zarr")
    write_scene(collection, "a", s1.data, s2.data, s1.geo)
    write_scene(collection, "b", s1.data, s2.data, s1.geo)
    collection["scenes"]["b"].attrs["complete"] = False  # killed mid-write
    write_scene(collection, "b", s1.data, np.zeros_like(s2.data), s1.geo)
    assert scene_names(collection) == ["a", "b"] and collection["scenes"]["a"]["s2_cloudy"][:].any()
    with pytest.raises(CollectionError, match="scene a is already complete"):
        write_scene(collection, "a", s1.data, s2.data, s1.geo)


@pytest.mark.slow
def test_a_second_ingest_into_a_collection_being_written_is_refused(tmp_path):
    """Two writers of the shared per-patch metadata chunks once lost each other's splits and cover values."""
    import os
    import signal
    import time

    import numpy as np

    from equicr.lease import lease_location

    reference, out = tmp_path / "reference.zarr", tmp_path / "patches.zarr"
    assert run("synthetic", "--out", str(reference), "--count", "30", "--size", "48").returncode == 0
    command = [sys.executable, "jobs/ingest.py", "synthetic", "--out", str(out), "--count", "30", "--size", "48"]
    first = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lease = lease_location(out, "ingest")
    deadline = time.time() + 60
    while not (os.path.exists(lease) and (out / "complete" / "c").exists()) and time.time() < deadline:
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGSTOP)  # a slow first writer, caught mid-run
    try:
        second = run("synthetic", "--out", str(out), "--count", "30", "--size", "48")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"patches.zarr is being written by another job (ingest: held by process {first.pid}" in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr
    written, expected = open_collection(out, "patches"), open_collection(reference, "patches")
    assert written["complete"][:].all()
    for name in ("split", "cloud_cover", "s2_cloudy"):
        assert np.array_equal(written[name][:], expected[name][:]), name
    assert not os.path.exists(lease), "the lease is released at the end"
