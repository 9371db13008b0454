"""Composites: real clear backgrounds under SatelliteCloudGenerator clouds, seeded, resumable, split by scene."""

import sys

import numpy as np
import pytest
import zarr

from equicr.bands import PRODUCTS
from equicr.data.collection import open_collection
from equicr.data.composite import (
    B10,
    CIRRUS_B10_RATIO,
    CLOUD_GENERATOR_PACKAGES,
    THICK_CLOUD_REFLECTANCE,
    THIN_CLOUD_REFLECTANCE,
    composite_split,
    kind_shares,
    make_composite,
    measure_cloud_reflectance,
)
from equicr.data.real import load_real_data, sen12mscr_scene
from equicr.errors import UserError
from equicr.ingest.simulated import write_composites
from tests.fixtures.paths import REPO_ROOT, SHARED_DATA_DIR

VISIBLE = [PRODUCTS["s2"].bands.index(band) for band in ("B02", "B03", "B04")]


@pytest.fixture(scope="module")
def real(mini_dir):
    return load_real_data(SHARED_DATA_DIR)


def test_a_composite_depends_only_on_seed_and_index(real):
    background = real.backgrounds[0]
    first, again = make_composite(background, 48, seed=3, index=5), make_composite(background, 48, seed=3, index=5)
    assert np.array_equal(first.s2_cloudy, again.s2_cloudy) and first.kind == again.kind
    other = make_composite(background, 48, seed=3, index=6)
    assert not np.array_equal(first.s2_cloudy, other.s2_cloudy)
    assert first.s2_cloudy.dtype == np.uint16 and first.s2_cloudy.shape == (13, 48, 48)
    assert first.s1.shape == (2, 48, 48)


def test_the_target_is_the_real_background_and_sar_is_real_where_there_is_some(real):
    from equicr.data.rasters import read_raster

    with_sar = next(p for p in real.backgrounds if p.s1 is not None)
    without = next(p for p in real.backgrounds if p.s1 is None)
    for background in (with_sar, without):
        composite = make_composite(background, 64, seed=0, index=1)
        clear = read_raster(background.s2, "s2").data
        a, _, c, _, e, f = composite.geo.transform
        source = read_raster(background.s2, "s2").geo.transform
        row, col = round((f - source[5]) / e), round((c - source[2]) / a)  # the crop's place, from its transform
        assert np.array_equal(composite.s2, clear[:, row : row + 64, col : col + 64])
    assert (make_composite(without, 64, 0, 1).s1 == PRODUCTS["s1"].fill).all()
    assert (make_composite(with_sar, 64, 0, 1).s1 != PRODUCTS["s1"].fill).mean() > 0.99


def test_cloud_brightness_per_band_follows_real_clouds_cirrus_bright_in_b10(real):
    """Thick cloud barely shows in B10 (low cloud, absorbed above); cirrus does, at the stated ratio."""
    background = real.backgrounds[0]
    ratios = {}
    for kind in ("thick-local", "cirrus"):
        composite = make_composite(background, 128, seed=1, index=0, kind=kind)
        added = composite.s2_cloudy.astype(float) - composite.s2.astype(float)
        cloudy = added[VISIBLE].mean(0) > 300  # where the cloud adds at least reflectance 0.03
        assert cloudy.mean() > 0.05, kind
        ratios[kind] = added[B10][cloudy].mean() / added[VISIBLE][:, cloudy].mean()
    # What the cloud adds is alpha * (cloud - ground) per band; ground is dark in B10 and brighter in the
    # visible bands, so the added ratio sits at or above the profile's own ratio.
    expected_thick = THICK_CLOUD_REFLECTANCE[B10] / np.mean([THICK_CLOUD_REFLECTANCE[i] for i in VISIBLE])
    assert ratios["thick-local"] == pytest.approx(expected_thick, abs=0.02) and ratios["thick-local"] < 0.05
    assert ratios["cirrus"] > CIRRUS_B10_RATIO and ratios["cirrus"] > 10 * ratios["thick-local"]


@pytest.mark.slow
def test_the_band_profiles_are_what_real_clouds_outside_the_test_bench_measure(real):
    test_scenes = {p.scene for p in real.test_bench}
    images = [path for path in sorted(SHARED_DATA_DIR.glob("real-pairs/*_s2_cloudy/*/*.tif"))
              + sorted(SHARED_DATA_DIR.glob("s1-s2-extra/*_s2_cloudy/*/*.tif"))
              if sen12mscr_scene(path)[0] not in test_scenes]  # fmt: skip
    measured = measure_cloud_reflectance(images)
    assert len(images) == 22
    np.testing.assert_allclose(measured["thick"], THICK_CLOUD_REFLECTANCE, atol=1e-4)
    np.testing.assert_allclose(measured["thin"], THIN_CLOUD_REFLECTANCE, atol=1e-4)


def test_composites_are_stored_with_cover_and_split_and_resume(real, tmp_path):
    backgrounds = real.backgrounds[:6]
    reference = tmp_path / "reference.zarr"
    report = write_composites(backgrounds, reference, count=8, size=32, seed=2, progress=False)
    assert report.written == 8
    group = open_collection(reference, "patches")
    assert group["complete"][:].all() and np.isfinite(group["cloud_cover"][:]).all()
    assert list(group["split"][:]) == [composite_split(index) for index in range(8)]
    assert [composite_split(index) for index in range(20)].count("val") == 2

    interrupted = tmp_path / "interrupted.zarr"
    write_composites(backgrounds, interrupted, count=8, size=32, seed=2, progress=False)
    store = zarr.open_group(str(interrupted), mode="r+")
    store["complete"][[1, 6]] = False  # as if killed before these two were marked
    store["s2_cloudy"][1] = 0
    resumed = write_composites(backgrounds, interrupted, count=8, size=32, seed=2, progress=False)
    assert (resumed.written, resumed.already_complete) == (2, 6)
    for name in ("s1", "s2_cloudy", "s2", "split", "cloud_cover", "transform"):
        assert np.array_equal(store[name][:], group[name][:], equal_nan=name != "split"), name


def test_every_band_sees_the_same_cloud_no_colour_casts(real):
    """SatelliteCloudGenerator 0.4's per-band shift re-zooms the cloud once per band: bands drift into colour casts."""
    for kind in ("thick-local", "thick-wide", "thin", "haze", "cirrus"):
        composite = make_composite(real.backgrounds[1], 48, seed=0, index=3, kind=kind)
        added = composite.s2_cloudy.astype(float) - composite.s2.astype(float)
        for band in ("B04", "B8A"):
            other = PRODUCTS["s2"].bands.index(band)
            assert np.corrcoef(added[VISIBLE[0]].ravel(), added[other].ravel())[0, 1] > 0.95, (kind, band)


def test_composites_over_backgrounds_with_and_without_sar_read_whole(tmp_path):
    """The demo's data: shipped backgrounds, some with Sentinel-1 and some without; every patch reads as stored."""
    from equicr.data.dataset import PatchDataset
    from equicr.data.real import shipped_backgrounds

    backgrounds = shipped_backgrounds()
    assert {patch.s1 is None for patch in backgrounds} == {True, False}
    path = tmp_path / "demo.zarr"
    write_composites(backgrounds, path, count=10, size=32, seed=0, progress=False)
    for split in ("train", "val"):
        dataset = PatchDataset(path, split, input_mode="sar+opt")
        samples = [dataset[i] for i in range(len(dataset))]  # a patch without SAR used to be a missing chunk
        assert samples and all(sample["inputs"].shape == (15, 32, 32) for sample in samples)


def test_without_the_cloud_generator_composites_say_exactly_what_to_install(real, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "satellite_cloud_generator", None)  # as if it were not installed
    with pytest.raises(UserError, match="pip install --no-deps satellite-cloud-generator==") as refused:
        write_composites(real.backgrounds[:1], tmp_path / "c.zarr", 4, 32, seed=0, progress=False)
    assert not (tmp_path / "c.zarr").exists()  # refused before anything is written
    pinned = set((REPO_ROOT / "constraints.txt").read_text().split())
    for package in CLOUD_GENERATOR_PACKAGES:  # the line a user copies installs what CI tests
        assert package in pinned and package in str(refused.value)


def test_kind_shares_are_the_shares_composites_are_drawn_with():
    # weights count relative to their sum, as make_composite draws them: 0.1 of 1.1 is one composite in eleven
    assert kind_shares({"thin": 0.3, "clear": 0.1, "thick": 0.7}) == "clear 9%, thick 64%, thin 27%"
    assert kind_shares({"haze": 1.0, "thin": 1.0}) == "haze 50%, thin 50%"
