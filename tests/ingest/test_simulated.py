"""Simulated data into collections: synthetic patches resume exactly, drawn in order from one seed."""

import numpy as np
import pytest

from equicr.data.collection import open_collection
from equicr.ingest import patches
from equicr.ingest.simulated import write_synthetic_patches


def test_synthetic_ingest_resumes_after_an_interruption(tmp_path, monkeypatch):
    """As jobs/ingest.py promises: a rerun finishes the patches a killed run left, identical to one clean run."""
    write_synthetic_patches(tmp_path / "clean.zarr", count=6, size=16, seed=4)
    real_mark, calls = patches.mark_complete, []

    def killed_after_three(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(args)
        real_mark(*args)

    monkeypatch.setattr(patches, "mark_complete", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_patches(tmp_path / "resumed.zarr", count=6, size=16, seed=4)
    monkeypatch.setattr(patches, "mark_complete", real_mark)
    assert open_collection(tmp_path / "resumed.zarr", "patches")["complete"][:].sum() == 3
    write_synthetic_patches(tmp_path / "resumed.zarr", count=6, size=16, seed=4)
    clean, resumed = (open_collection(tmp_path / name, "patches") for name in ("clean.zarr", "resumed.zarr"))
    for name in ("s1", "s2_cloudy", "s2", "patch_id", "split", "cloud_cover", "complete"):
        np.testing.assert_array_equal(clean[name][:], resumed[name][:], err_msg=name)
    with pytest.raises(Exception, match="different selection of patches"):
        write_synthetic_patches(tmp_path / "resumed.zarr", count=7, size=16, seed=4)


def test_synthetic_scenes_resume_after_an_interruption(tmp_path):
    import zarr

    from equicr.data.collection import open_collection
    from equicr.ingest.simulated import write_synthetic_scenes

    sizes = [(40, 52), (33, 30)]
    clean = write_synthetic_scenes(tmp_path / "clean.zarr", sizes, seed=4)
    resumed = write_synthetic_scenes(tmp_path / "resumed.zarr", sizes, seed=4)
    zarr.open_group(str(resumed / "scenes" / "scene_1"), mode="r+").attrs["complete"] = False  # killed in scene_1
    write_synthetic_scenes(resumed, sizes, seed=4)  # used to fail: "already complete; never overwritten"
    write_synthetic_scenes(resumed, sizes, seed=4)  # and a rerun of a finished one does nothing
    a, b = (open_collection(p, "scenes")["scenes"] for p in (clean, resumed))
    for name in ("scene_0", "scene_1"):
        assert b[name].attrs["complete"]
        np.testing.assert_array_equal(a[name]["s2_cloudy"][:], b[name]["s2_cloudy"][:])
        np.testing.assert_array_equal(a[name]["s1"][:], b[name]["s1"][:])
