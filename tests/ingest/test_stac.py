"""STAC ingest on real pixels: a static catalog of per-band COGs (tests/fixtures/make_stac_catalog.py) to scenes.

Tolerances, stated once: the 10 m bands must equal the originals exactly; bands the catalog holds at
20 m or 60 m (area-averaged there, bilinear back to 10 m) within a mean absolute error of 6 % of
the band's mean and, for the 20 m bands, a correlation of at least 0.98 with the original; S1
written in EPSG:4326 on an offset grid and reprojected back within 0.25 dB of bias, 0.6 dB mean
absolute difference and a correlation of at least 0.95 (two bilinear resamplings of speckle).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from equicr.bands import S2_BANDS, S2_NATIVE_RESOLUTION_M
from equicr.data.collection import open_collection
from equicr.data.scenes import INGEST_MARKERS, scene_names
from equicr.ingest import stac as stac_ingest
from equicr.ingest.stac import ingest_stac
from equicr.stac.catalog import CatalogError, CatalogSource
from tests.fixtures.make_stac_catalog import patches, s2_item_id
from tests.fixtures.paths import SHARED_DATA_DIR

SHARED = SHARED_DATA_DIR
EXACT_BANDS = [band for band in S2_BANDS if S2_NATIVE_RESOLUTION_M[band] == 10]
MAX_RELATIVE_MAE = 0.06
MIN_CORRELATION_20M = 0.98
MAX_S1_BIAS_DB, MAX_S1_MAD_DB, MIN_S1_CORRELATION = 0.25, 0.6, 0.95


def edited_catalog(catalog_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "catalog"
    shutil.copytree(catalog_dir, copy)
    return copy


def item_json(catalog: Path, item_id: str) -> tuple[Path, dict]:
    path = catalog / item_id / f"{item_id}.json"
    return path, json.loads(path.read_text())


def scene_of(out: Path, name: str):
    return open_collection(out, "scenes")["scenes"][name]


def test_every_paired_item_becomes_a_scene_equal_to_the_originals(ingested):
    out, report = ingested
    assert report.failures == [] and report.written == 4
    assert any("spring_15" in note and "no Sentinel-1" in note for note in report.notes)
    for patch in patches(SHARED):
        if patch.s1 is None:
            continue
        name = next(n for n in scene_names(open_collection(out, "scenes")) if n.endswith(patch.name))
        scene = scene_of(out, name)
        with rasterio.open(patch.s2) as source:
            original, transform = source.read().astype(np.int64), tuple(source.transform)[:6]
        assert tuple(scene.attrs["transform"]) == transform
        stored = scene["s2_cloudy"][:].astype(np.int64)
        valid = scene["s2_cloudy_valid"][:]
        for index, band in enumerate(S2_BANDS):
            if band in EXACT_BANDS:
                np.testing.assert_array_equal(stored[index][valid], original[index][valid], err_msg=f"{name} {band}")
                continue
            error = np.abs(stored[index] - original[index])[valid].mean() / original[index][valid].mean()
            assert error < MAX_RELATIVE_MAE, f"{name} {band}: relative MAE {error:.4f}"
            if S2_NATIVE_RESOLUTION_M[band] == 20:
                correlation = np.corrcoef(stored[index][valid], original[index][valid])[0, 1]
                assert correlation >= MIN_CORRELATION_20M, f"{name} {band}: correlation {correlation:.3f}"
        with rasterio.open(patch.s1) as source:
            sar = source.read()
        both = scene["s1_valid"][:] & (sar != 0).all(axis=0)
        both[:4], both[-4:], both[:, :4], both[:, -4:] = False, False, False, False  # bilinear edge of the S1 grid
        for index in range(2):
            difference = scene["s1"][index][both] - sar[index][both]
            assert abs(difference.mean()) < MAX_S1_BIAS_DB and np.abs(difference).mean() < MAX_S1_MAD_DB
            assert np.corrcoef(scene["s1"][index][both], sar[index][both])[0, 1] >= MIN_S1_CORRELATION


def test_provenance_pairing_and_harmonisation_are_recorded(ingested):
    out, _ = ingested
    scenes = {name.rsplit("_", 2)[-2] + "_" + name.rsplit("_", 1)[-1]: scene_of(out, name)
              for name in scene_names(open_collection(out, "scenes"))}  # fmt: skip
    fall = scenes["fall_139"].attrs["source"]
    assert fall["s1_item"].startswith("S1A_IW_GRDH_20180918")  # the S1 one day later, not the one ten days later
    assert fall["s1_units"] == "linear power, converted to dB" and fall["radiometric_offset_removed_dn"] == 0
    assert fall["s2_assets"]["B8A"].endswith("B8A.tif") and fall["catalog"].endswith("catalog.json")
    winter = scenes["winter_112"].attrs["source"]
    assert winter["processing_baseline"] == "04.00" and winter["radiometric_offset_removed_dn"] == 1000
    assert "raster:bands" in winter["radiometric_offset_source"] and winter["s1_units"] == "dB"


def test_a_no_data_corner_is_masked_not_fatal(ingested, catalog_dir):
    out, _ = ingested
    name = next(n for n in scene_names(open_collection(out, "scenes")) if n.endswith("summer_19"))
    scene = scene_of(out, name)
    corner = scene["s2_cloudy"][1] == 0  # B02 is copied exactly: its zeros are the corner
    rows, cols = np.indices(corner.shape)
    size = int((rows + cols)[corner].max()) + 1
    assert 60 <= size <= 100
    valid = scene["s2_cloudy_valid"][:]
    assert not valid[rows + cols < size].any()
    assert not scene["s1_valid"][:][rows + cols < size - 2].any()  # S1 went through two bilinear warps: +-2 px
    assert valid[rows + cols >= size + 12].all()  # beyond the 60 m bands' reach of the corner


def test_optical_only_ingests_unpaired_items_without_sar(catalog_dir, tmp_path):
    out = tmp_path / "optical.zarr"
    report = ingest_stac(str(catalog_dir / "catalog.json"), str(out), optical_only=True, progress=False)
    assert report.written == 5
    scene = scene_of(out, s2_item_id(next(p for p in patches(SHARED) if p.s1 is None)))
    assert scene.attrs["has_sar"] is False and not scene["s1_valid"][:].any() and scene["s2_cloudy_valid"][:].all()


def test_an_interrupted_ingest_resumes_per_window_and_equals_an_uninterrupted_one(catalog_dir, tmp_path, monkeypatch):
    import equicr.data.scenes as scenes_module

    monkeypatch.setattr(scenes_module, "SCENE_CHUNK", 128)  # four windows per 256 px scene
    monkeypatch.setattr(stac_ingest, "WINDOWS_PER_TASK", 1)
    catalog = str(catalog_dir / "catalog.json")
    ingest_stac(catalog, str(tmp_path / "reference.zarr"), progress=False)
    real, calls = stac_ingest.ingest_windows, []

    def killed_after_six_windows(*args):
        calls.append(args)
        if len(calls) == 7:
            raise KeyboardInterrupt("killed mid-run")
        return real(*args)

    monkeypatch.setattr(stac_ingest, "ingest_windows", killed_after_six_windows)
    with pytest.raises(KeyboardInterrupt):
        ingest_stac(catalog, str(tmp_path / "resumed.zarr"), progress=False)
    interrupted = open_collection(tmp_path / "resumed.zarr", "scenes")
    assert scene_names(interrupted) == []  # nothing looks complete
    done = [interrupted["scenes"][name][INGEST_MARKERS][:].sum() for name in scene_names(interrupted, False)]
    assert sum(done) == 6
    resumed_calls = []
    monkeypatch.setattr(stac_ingest, "ingest_windows", lambda *args: resumed_calls.append(args) or real(*args))
    report = ingest_stac(catalog, str(tmp_path / "resumed.zarr"), progress=False)
    assert report.written == 4 and len(resumed_calls) == 16 - 6  # only the unfinished windows
    assert_same_scenes(tmp_path / "reference.zarr", tmp_path / "resumed.zarr")


def assert_same_scenes(first: Path, second: Path) -> None:
    a, b = open_collection(first, "scenes"), open_collection(second, "scenes")
    assert scene_names(a) == scene_names(b)
    for name in scene_names(a):
        for array in ("s1", "s2_cloudy", "s1_valid", "s2_cloudy_valid", "x", "y"):
            np.testing.assert_array_equal(a["scenes"][name][array][:], b["scenes"][name][array][:], err_msg=array)
        assert dict(a["scenes"][name].attrs) == dict(b["scenes"][name].attrs)


@pytest.mark.slow
def test_from_object_storage_with_ray_tasks_equals_from_disk(catalog_dir, ingested, s3_bucket, local_ray, tmp_path):
    import fsspec

    filesystem = fsspec.filesystem("s3")
    filesystem.put(str(catalog_dir), f"{s3_bucket}/stac-catalog", recursive=True)
    out = tmp_path / "from-s3.zarr"
    report = ingest_stac(f"{s3_bucket}/stac-catalog/catalog.json", str(out), use_ray=True, progress=False)
    assert report.failures == [] and report.written == 4
    disk, remote = open_collection(ingested[0], "scenes"), open_collection(out, "scenes")
    for name in scene_names(disk):
        for array in ("s1", "s2_cloudy", "s1_valid", "s2_cloudy_valid"):
            np.testing.assert_array_equal(disk["scenes"][name][array][:], remote["scenes"][name][array][:])
        assert remote["scenes"][name].attrs["source"]["s2_assets"]["B01"].startswith(f"{s3_bucket}/stac-catalog/")


# ------------------------------------------------------------------------------------------ bad input

FALL = "S2B_MSIL1C_20180917_fall_139"


def _drop_band(catalog: Path) -> tuple[str, ...]:
    path, item = item_json(catalog, FALL)
    del item["assets"]["B05"]
    path.write_text(json.dumps(item))
    return (f"item {FALL}", "no asset for band(s) ['B05']")


def _strip_crs(catalog: Path) -> tuple[str, ...]:
    band = catalog / FALL / "B03.tif"
    with rasterio.open(band) as source:
        data, profile = source.read(), source.profile
    profile.pop("crs")
    band.unlink()
    with rasterio.open(band, "w", **{**profile, "driver": "GTiff"}) as target:
        target.write(data)
    return ("asset B03", "has no CRS")


def _garble(catalog: Path) -> tuple[str, ...]:
    (catalog / FALL / "B11.tif").write_bytes(b"not a tiff at all")
    return ("asset B11", "cannot be read")


def _float_band(catalog: Path) -> tuple[str, ...]:
    band = catalog / FALL / "B04.tif"
    with rasterio.open(band) as source:
        data, profile = source.read().astype(np.float32), source.profile
    band.unlink()
    with rasterio.open(band, "w", **{**profile, "dtype": "float32", "driver": "GTiff"}) as target:
        target.write(data)
    return ("asset B04", "data type float32")


def _s1_elsewhere(catalog: Path) -> tuple[str, ...]:
    s1 = next(p for p in catalog.iterdir() if p.name.startswith("S1A_IW_GRDH_20180918"))
    for band in ("vv", "vh"):
        path = s1 / f"{band}.tif"
        with rasterio.open(path) as source:
            data, profile = source.read(), source.profile
        profile["transform"] = profile["transform"] * rasterio.Affine.translation(5000, 0)  # far east of the S2 tile
        path.unlink()
        with rasterio.open(path, "w", **{**profile, "driver": "GTiff"}) as target:
            target.write(data)
    return ("item S1A_IW_GRDH_20180918", "asset VV", f"does not overlap the scene of item {FALL}")


def _declared_decibels(catalog: Path) -> tuple[str, ...]:
    s1 = next(p for p in catalog.iterdir() if p.name.startswith("S1A_IW_GRDH_20180918"))
    path, item = item_json(catalog, s1.name)
    for asset in item["assets"].values():
        if "raster:bands" in asset:
            asset["raster:bands"][0]["unit"] = "dB"  # the pixels are linear power
    path.write_text(json.dumps(item))
    return (f"item {s1.name}", "the assets declare dB but their values are linear")


def _truncate(catalog: Path) -> tuple[str, ...]:
    band = catalog / FALL / "B08.tif"  # an interrupted download: the header is there, most tiles are not
    band.write_bytes(band.read_bytes()[: band.stat().st_size * 2 // 5])
    return (f"item {FALL}, asset B08", "rows 0:", "cannot be read", "damaged or truncated")


def _repeat_id(catalog: Path) -> tuple[str, ...]:
    shutil.copytree(catalog / FALL, catalog / "copy")  # the same item published twice
    root = json.loads((catalog / "catalog.json").read_text())
    root["links"].append({"rel": "item", "href": f"./copy/{FALL}.json", "type": "application/geo+json"})
    (catalog / "catalog.json").write_text(json.dumps(root))
    return (f"item {FALL}: 2 items share this id", "none of them is ingested")


def _level_2a(catalog: Path) -> tuple[str, ...]:
    path, item = item_json(catalog, FALL)
    item["properties"]["processing:level"] = "L2A"
    path.write_text(json.dumps(item))
    return (f"item {FALL} is Sentinel-2 Level-2A", "the model needs Level-1C")


@pytest.mark.parametrize(
    "breakage", [_drop_band, _strip_crs, _garble, _truncate, _float_band, _s1_elsewhere, _declared_decibels,
                 _repeat_id, _level_2a],
    ids=["missing band", "no CRS", "unreadable", "truncated", "wrong dtype", "S1 does not overlap", "S1 units lie",
         "repeated id", "Level-2A"],
)  # fmt: skip
def test_bad_items_are_refused_by_item_and_asset_and_never_complete(catalog_dir, tmp_path, breakage):
    catalog = edited_catalog(catalog_dir, tmp_path)
    expected = breakage(catalog)  # what the one failure must say: the item, the asset, the reason
    out = tmp_path / "scenes.zarr"
    report = ingest_stac(str(catalog / "catalog.json"), str(out), progress=False)
    assert len(report.failures) == 1, report.failures
    assert all(part in report.failures[0] for part in expected), report.failures[0]
    assert FALL not in scene_names(open_collection(out, "scenes")) and report.written == 3


def test_values_that_do_not_fit_dn_fail_the_scene_mid_ingest(catalog_dir, tmp_path):
    catalog = edited_catalog(catalog_dir, tmp_path)
    spring = next(p for p in catalog.iterdir() if p.name.startswith("S2B_MSIL1C_20180402_spring_101"))
    with rasterio.open(spring / "B08.tif") as source:
        data, profile = source.read(), source.profile
    data[0, 3, 3] = -5  # int16 exports can hold what no DN can (B08 is read as it is: 10 m)
    with rasterio.open(spring / "B08.tif", "w", **profile) as target:
        target.write(data)
    out = tmp_path / "scenes.zarr"
    report = ingest_stac(str(catalog / "catalog.json"), str(out), progress=False)
    assert len(report.failures) == 1 and spring.name in report.failures[0] and "asset B08" in report.failures[0]
    assert "-5" in report.failures[0] and spring.name not in scene_names(open_collection(out, "scenes"))


def test_an_empty_search_is_an_error_and_writes_nothing(catalog_dir, tmp_path):
    out = tmp_path / "scenes.zarr"
    with pytest.raises(CatalogError, match="no item matches"):
        ingest_stac(str(catalog_dir / "catalog.json"), str(out), bbox=(-60, -10, -59, -9), progress=False)
    with pytest.raises(CatalogError, match="no item matches"):
        future = CatalogSource(str(catalog_dir / "catalog.json"), interval="2030-01-01/..")
        ingest_stac(future, str(out), progress=False)
    assert not out.exists()


@pytest.mark.slow
def test_the_stac_command_reports_unpaired_items_and_refuses_an_empty_search(catalog_dir, tmp_path):
    import subprocess
    import sys

    from tests.fixtures.paths import REPO_ROOT

    def run(*args):
        command = [sys.executable, "jobs/ingest.py", "stac", "--catalog", str(catalog_dir / "catalog.json"), *args]
        return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)

    out = tmp_path / "scenes.zarr"
    result = run("--out", str(out), "--max-days", "3")
    assert result.returncode == 0, result.stderr
    assert (
        "4 written, 0 already complete, 0 failed" in result.stdout
        and "note: item S2B_MSIL1C_20180405_spring_15" in result.stderr
    )
    unpaired = run("--out", str(tmp_path / "unpaired.zarr"), "--max-days", "0.01")  # no S1 within 15 minutes
    assert unpaired.returncode == 2 and "0 written, 0 already complete, 0 failed" in unpaired.stdout
    assert "error: nothing was ingested" in unpaired.stderr
    empty = run("--out", str(tmp_path / "empty.zarr"), "--bbox", "-60", "-10", "-59", "-9")
    assert empty.returncode == 2 and "error: " in empty.stderr and "no item matches" in empty.stderr
    assert "Traceback" not in empty.stderr and not (tmp_path / "empty.zarr").exists()
