"""Ingest: real GeoTIFF round trip, bad input isolation, resumability, Ray fan-out, scenes."""

import numpy as np
import pytest
import rasterio
import zarr

from equicr.data.collection import CollectionError, open_collection, patch_georeference
from equicr.data.rasters import GeoReference
from equicr.data.scenes import scene_names
from equicr.data.sen12mscr import index_tree, read_triplet
from equicr.data.synthetic import make_scene, write_geotiff, write_sen12mscr_tree
from equicr.ingest import patches
from equicr.ingest.geotiffs import ingest_scenes, ingest_sen12mscr

PIXEL_ARRAYS = ("s1", "s2_cloudy", "s2")
PER_PATCH_ARRAYS = ("patch_id", "split", "crs", "transform", "cloud_cover", "complete")


def assert_same_collection(a_path, b_path):
    a, b = open_collection(a_path, "patches"), open_collection(b_path, "patches")
    for name in PIXEL_ARRAYS + PER_PATCH_ARRAYS:
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)


@pytest.fixture
def tree(tmp_path):
    scenes = {"ROIs1158_spring": [1, 106], "ROIs2017_winter": [22]}
    write_sen12mscr_tree(tmp_path / "tree", scenes, patches_per_scene=2, size=256, seed=3)
    return tmp_path / "tree"


def test_real_geotiffs_round_trip_through_ingest(mini_dir, tmp_path):
    out = f"file://{tmp_path}/real.zarr"  # a URI, as for object storage: fsspec resolves the scheme
    report = ingest_sen12mscr(mini_dir, out, progress=False)
    assert report.written == 2 and report.failures == []
    assert ingest_sen12mscr(mini_dir, out, progress=False).already_complete == 2
    group = open_collection(out, "patches")
    records, _ = index_tree(mini_dir)
    for index, record in enumerate(records):
        triplet = read_triplet(record.paths)
        for name in PIXEL_ARRAYS:
            np.testing.assert_array_equal(group[name][index], getattr(triplet, name))
        with rasterio.open(record.paths["s2"]) as dataset:
            assert patch_georeference(group, index) == GeoReference(
                dataset.crs.to_string(), tuple(dataset.transform)[:6]
            )
        assert group["split"][index] == record.split and group["complete"][index]
    np.testing.assert_array_less([0.9, -0.01], [group["cloud_cover"][0], -group["cloud_cover"][1]])


def test_split_and_limit_select_patches(tree, tmp_path):
    ingest_sen12mscr(tree, tmp_path / "train.zarr", splits=("train",), limit=2, progress=False)
    group = open_collection(tmp_path / "train.zarr", "patches")
    assert list(group["patch_id"][:]) == ["ROIs1158_spring_1_p1", "ROIs1158_spring_1_p2"]
    with pytest.raises(CollectionError, match="different selection of patches"):
        ingest_sen12mscr(tree, tmp_path / "train.zarr", splits=("train",), limit=1, progress=False)


def test_bad_triplet_is_reported_and_the_rest_ingested(tree, tmp_path):
    records, _ = index_tree(tree)
    bad = records[1].paths["s1"]
    write_geotiff(bad, np.ones((3, 256, 256), dtype=np.float32), read_triplet(records[1].paths).geo)
    report = ingest_sen12mscr(tree, tmp_path / "c.zarr", progress=False)
    assert report.written == len(records) - 1
    assert len(report.failures) == 1 and str(bad) in report.failures[0] and "needs 2 bands" in report.failures[0]
    complete = open_collection(tmp_path / "c.zarr", "patches")["complete"][:]
    assert not complete[1] and complete.sum() == len(records) - 1


@pytest.mark.slow
def test_interrupted_ingest_then_rerun_equals_uninterrupted(tree, tmp_path, monkeypatch):
    ingest_sen12mscr(tree, tmp_path / "reference.zarr", progress=False)
    real_batch, calls = patches.write_patch_batch, []

    def killed_after_writing_the_third_patch(*args):
        result = real_batch(*args)  # pixels written, completion not yet recorded
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed mid-run")
        return result

    monkeypatch.setattr(patches, "write_patch_batch", killed_after_writing_the_third_patch)
    with pytest.raises(KeyboardInterrupt):
        ingest_sen12mscr(tree, tmp_path / "resumed.zarr", progress=False)
    assert open_collection(tmp_path / "resumed.zarr", "patches")["complete"][:].sum() == 2  # marked patch by patch
    monkeypatch.setattr(patches, "write_patch_batch", real_batch)
    report = ingest_sen12mscr(tree, tmp_path / "resumed.zarr", progress=False)
    assert (report.already_complete, report.written) == (2, 4)
    assert_same_collection(tmp_path / "reference.zarr", tmp_path / "resumed.zarr")


@pytest.mark.slow
def test_ray_fan_out_gives_the_same_collection(tree, tmp_path, local_ray):
    ingest_sen12mscr(tree, tmp_path / "local.zarr", progress=False)
    report = ingest_sen12mscr(tree, tmp_path / "ray.zarr", use_ray=True, progress=False)
    assert report.written == 6
    assert_same_collection(tmp_path / "local.zarr", tmp_path / "ray.zarr")


def test_scenes_of_any_size_and_mismatched_grids(tmp_path):
    rng = np.random.default_rng(0)
    good = make_scene(rng, (45, 71))
    paths = {
        kind: write_geotiff(tmp_path / f"good_{kind}.tif", getattr(good, kind), good.geo)
        for kind in ("s1", "s2_cloudy")
    }
    shifted = GeoReference(good.geo.crs, (*good.geo.transform[:2], good.geo.transform[2] + 10, *good.geo.transform[3:]))
    other = write_geotiff(tmp_path / "shifted_s2.tif", good.s2_cloudy, shifted)
    pairs = [("good", paths["s1"], paths["s2_cloudy"]), ("shifted", paths["s1"], other)]
    report = ingest_scenes(pairs, tmp_path / "scenes.zarr", progress=False)
    assert report.written == 1 and len(report.failures) == 1
    assert "scene shifted" in report.failures[0] and "not on the same grid" in report.failures[0]
    collection = open_collection(tmp_path / "scenes.zarr", "scenes")
    assert scene_names(collection) == ["good"]
    np.testing.assert_array_equal(collection["scenes/good/s1"][:], good.s1)
    assert ingest_scenes(pairs[:1], tmp_path / "scenes.zarr", progress=False).already_complete == 1


def test_scene_killed_mid_write_does_not_look_complete(tmp_path):
    rng = np.random.default_rng(1)
    scene = make_scene(rng, (40, 40))
    s1 = write_geotiff(tmp_path / "s1.tif", scene.s1, scene.geo)
    s2 = write_geotiff(tmp_path / "s2.tif", scene.s2_cloudy, scene.geo)
    ingest_scenes([("a", s1, s2)], tmp_path / "scenes.zarr", progress=False)
    group = zarr.open_group(str(tmp_path / "scenes.zarr"), mode="r+")
    group["scenes/a"].attrs["complete"] = False  # as left by a writer killed before its last step
    collection = open_collection(tmp_path / "scenes.zarr", "scenes")
    assert scene_names(collection) == [] and scene_names(collection, complete_only=False) == ["a"]
    assert ingest_scenes([("a", s1, s2)], tmp_path / "scenes.zarr", progress=False).written == 1


@pytest.mark.parametrize(
    ("kind", "fill", "reason"),
    [("s1", np.nan, "no valid backscatter"), ("s1", np.inf, "no valid backscatter"),
     ("s1", -np.inf, "no valid backscatter"), ("s2", 0, "target holds no valid pixel")],
)  # fmt: skip
def test_patches_without_valid_pixels_are_not_complete(tree, tmp_path, kind, fill, reason):
    """All-NaN or infinite SAR and an all-fill clear target are refused with the patch's file and the reason."""
    records, _ = index_tree(tree)
    triplet = read_triplet(records[0].paths)
    data = {"s1": triplet.s1, "s2": triplet.s2}[kind]
    write_geotiff(records[0].paths[kind], np.full_like(data, fill), triplet.geo)
    second = read_triplet(records[1].paths)
    partial = second.s1.copy()
    partial[:, :10] = np.inf  # some infinite pixels are no-data, filled by the policy: the patch stays usable
    write_geotiff(records[1].paths["s1"], partial, second.geo)
    report = ingest_sen12mscr(tree, tmp_path / "c.zarr", progress=False)
    assert report.written == len(records) - 1 and len(report.failures) == 1
    assert reason in report.failures[0] and str(records[0].paths["s1"]) in report.failures[0]
    complete = open_collection(tmp_path / "c.zarr", "patches")["complete"][:]
    assert not complete[0] and complete[1:].all()


def test_a_scene_pair_without_any_valid_backscatter_stays_incomplete(tmp_path, monkeypatch):
    import equicr.data.scenes as scenes_module

    monkeypatch.setattr(scenes_module, "SCENE_CHUNK", 16)  # several windows: the check spans the whole scene
    scene = make_scene(np.random.default_rng(2), (40, 36))
    s1 = write_geotiff(tmp_path / "s1.tif", np.full_like(scene.s1, np.nan), scene.geo)
    s2 = write_geotiff(tmp_path / "s2.tif", scene.s2_cloudy, scene.geo)
    report = ingest_scenes([("dark", s1, s2)], tmp_path / "scenes.zarr", progress=False)
    assert report.written == 0 and "scene dark" in report.failures[0] and "no valid backscatter" in report.failures[0]
    stored = open_collection(tmp_path / "scenes.zarr", "scenes")
    assert scene_names(stored) == [] and stored["scenes/dark/ingest_done"][:].all()  # written, never complete


def test_sentinel1_in_linear_power_is_converted_and_other_units_refused(tmp_path, real_triplet):
    """One unit test for every path: linear power becomes dB (it used to be clipped to 0 dB everywhere)."""
    db = real_triplet["s1"]  # real calibrated backscatter in dB
    geo = GeoReference("EPSG:32632", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0))
    s2 = write_geotiff(tmp_path / "s2.tif", real_triplet["s2_cloudy"], geo)
    files = {
        "decibels": write_geotiff(tmp_path / "db.tif", db, geo),
        "linear": write_geotiff(tmp_path / "linear.tif", (10 ** (db / 10)).astype(np.float32), geo),
        "amplitude": write_geotiff(tmp_path / "amplitude.tif", (100 * 10 ** (db / 20) + 50).astype(np.float32), geo),
    }
    report = ingest_scenes([(name, path, s2) for name, path in files.items()], tmp_path / "s.zarr", progress=False)
    assert report.written == 2 and len(report.failures) == 1
    assert "amplitude.tif: cannot tell the units of the Sentinel-1 values" in report.failures[0]
    scenes = open_collection(tmp_path / "s.zarr", "scenes")["scenes"]
    np.testing.assert_allclose(scenes["linear"]["s1"][:], scenes["decibels"]["s1"][:], atol=1e-4)
    assert np.median(scenes["linear"]["s1"][:]) < -5
