"""The one patch writer: every patch ingest resumes patch by patch, and a bad patch is reported by name."""

import numpy as np
import pytest

from equicr.data.collection import HAS_SAR_ATTRIBUTE, open_collection
from equicr.data.synthetic import make_scene, write_geotiff
from equicr.ingest import patches
from equicr.ingest.geotiffs import ingest_optical_pairs


@pytest.fixture
def optical_pairs(tmp_path):
    rng, pairs = np.random.default_rng(4), []
    for index in range(5):
        scene = make_scene(rng, (256, 256), cover=0.4)
        cloudy = write_geotiff(tmp_path / f"pair_{index}_cloudy.tif", scene.s2_cloudy, scene.geo)
        clear = write_geotiff(tmp_path / f"pair_{index}_clear.tif", scene.s2, scene.geo)
        pairs.append((f"pair_{index}", cloudy, clear))
    return pairs


@pytest.mark.slow
def test_a_killed_optical_pairs_ingest_resumes_patch_by_patch(optical_pairs, tmp_path, monkeypatch):
    reference = tmp_path / "reference.zarr"
    assert ingest_optical_pairs(optical_pairs, reference).written == 5
    real_batch, written = patches.write_patch_batch, []

    def killed_after_three_patches(*args):
        result = real_batch(*args)
        written.append(args)
        if len(written) == 3:
            raise KeyboardInterrupt("kill -9 stand-in")
        return result

    monkeypatch.setattr(patches, "write_patch_batch", killed_after_three_patches)
    out = tmp_path / "killed.zarr"
    with pytest.raises(KeyboardInterrupt):
        ingest_optical_pairs(optical_pairs, out)
    killed = open_collection(out, "patches")
    assert killed["complete"][:].tolist() == [True, True, False, False, False]  # the two before the kill are kept
    assert killed.attrs[HAS_SAR_ATTRIBUTE] is False

    monkeypatch.setattr(patches, "write_patch_batch", real_batch)
    report = ingest_optical_pairs(optical_pairs, out)
    assert (report.already_complete, report.written, report.failures) == (2, 3, [])
    a, b = open_collection(reference, "patches"), open_collection(out, "patches")
    for name in ("s2_cloudy", "s2", "cloud_cover", "split", "complete"):
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)


def test_a_patch_without_a_valid_pixel_is_reported_by_name_and_the_rest_written(optical_pairs, tmp_path):
    name, cloudy, _ = optical_pairs[2]
    scene = make_scene(np.random.default_rng(0), (256, 256))
    write_geotiff(cloudy, np.zeros_like(scene.s2_cloudy), scene.geo)  # all fill: no measurement anywhere
    report = ingest_optical_pairs(optical_pairs, tmp_path / "c.zarr")
    assert report.written == 4 and len(report.failures) == 1
    assert "patch pair_2" in report.failures[0] and "no valid pixel" in report.failures[0]
    assert open_collection(tmp_path / "c.zarr", "patches")["complete"][:].tolist() == [True, True, False, True, True]


def test_patches_without_sar_store_its_fill_and_read_it_as_no_data(optical_pairs, tmp_path):
    """Every patch stores every chunk: without Sentinel-1 the SAR fill, which reads as no-data, not a lost chunk."""
    from equicr.data.dataset import PatchDataset

    out = tmp_path / "pairs.zarr"
    ingest_optical_pairs(optical_pairs[:2], out, progress=False)
    assert len(list((out / "s1" / "c").iterdir())) == 2  # one stored chunk per patch
    split = str(open_collection(out, "patches")["split"][0])
    sample = PatchDataset(out, split, input_mode="sar+opt")[0]  # the sample panels show both sensors
    assert sample["inputs"].shape[0] == 15 and (sample["inputs"][13:] == 0).all()  # SAR fill: lowest backscatter
