"""From STAC items to cloud-free COGs and STAC items a GIS and a catalogue take as they are."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.enums import ColorInterp
from rio_cogeo.cogeo import cog_validate

from equicr.bands import S2_BANDS
from equicr.checkpoint import save_checkpoint
from equicr.data.collection import open_collection
from equicr.data.scenes import scene_names
from equicr.decloud.geotiff import average_2x2, export_scene
from equicr.decloud.output import DONE_ARRAY, OUTPUT_ARRAY
from equicr.decloud.pipeline import run_decloud
from equicr.decloud.settings import DecloudSettings
from equicr.executors import ActorPool
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.models import ModelConfig, build_model

IN_PROCESS = ActorPool(use_ray=False)


@pytest.fixture(scope="module")
def sar_model(tmp_path_factory):
    config = ModelConfig(architecture="dsen2cr", width=4, num_blocks=1)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", build_model(config), config)


def test_a_stac_scene_declouds_around_its_no_data_corner(ingested, sar_model, tmp_path):
    out = tmp_path / "scenes.zarr"
    shutil.copytree(ingested[0], out)
    summary = run_decloud(out, sar_model, settings=DecloudSettings(tile_size=128), pool=IN_PROCESS, progress=False)
    assert summary.scenes_failed == {} and len(summary.scenes_done) == 4
    name = next(n for n in scene_names(open_collection(out, "scenes")) if n.endswith("summer_19"))
    scene = open_collection(out, "scenes")["scenes"][name]
    valid = scene["s2_cloudy_valid"][:] & scene["s1_valid"][:]
    output = scene[OUTPUT_ARRAY][:]
    assert (output[:, ~valid] == 0).all()  # nodata where an input had no measurement
    assert (output[:, valid] > 0).mean() > 0.99  # declouded everywhere else
    written = export_scene(out, name, tmp_path / "cogs", with_probability=False)
    with rasterio.open(written[0]) as dataset:
        assert dataset.nodata == 0
        np.testing.assert_array_equal(dataset.read_masks(1) > 0, valid)
    item = json.loads(written[-1].read_text())
    assert item["properties"]["equicr:source_items"] == [name, scene.attrs["source"]["s1_item"]]
    assert item["properties"]["equicr:model_sha256"] == scene.attrs["decloud"]["model_sha256"]
    assert item["properties"]["equicr:input_mode"] == "sar+opt" and item["properties"]["equicr:group"] == "trivial"
    assert item["properties"]["equicr:postprocessing"] == scene.attrs["decloud"]["postprocessing"] == "blend"
    assert item["properties"]["datetime"].startswith(scene.attrs["source"]["s2_datetime"][:19])


def test_cogs_carry_what_a_gis_needs_and_the_scene_opens_in_xarray(sar_model, tmp_path):
    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(600, 520)], seed=3)
    run_decloud(path, sar_model, settings=DecloudSettings(tile_size=256), pool=IN_PROCESS, progress=False)
    name = scene_names(open_collection(path, "scenes"))[0]
    cog, probability, item_path = export_scene(path, name, tmp_path / "cogs", with_probability=True)
    scene = open_collection(path, "scenes")["scenes"][name]
    for file in (cog, probability):
        valid, errors, _ = cog_validate(str(file))  # what `rio cogeo validate` runs
        assert valid and errors == []
    with rasterio.open(cog) as dataset:
        assert dataset.crs.to_string() == scene.attrs["crs"]
        assert tuple(dataset.transform)[:6] == tuple(scene.attrs["transform"])
        assert dataset.descriptions == S2_BANDS and dataset.nodata == 0
        assert dataset.scales == (1e-4,) * 13 and dataset.offsets == (0.0,) * 13
        interpretation = dataset.colorinterp
        assert [interpretation[S2_BANDS.index(b)] for b in ("B04", "B03", "B02")] == [
            ColorInterp.red, ColorInterp.green, ColorInterp.blue,
        ]  # fmt: skip
        assert dataset.overviews(1) == [2, 4]  # down to one 256 px block
        assert dataset.tags()["equicr_scene"] == name and dataset.tags()["equicr_model_sha256"]
        np.testing.assert_array_equal(dataset.read(), scene[OUTPUT_ARRAY][:])
    with rasterio.open(cog, overview_level=0) as first:  # the 2x overview: each cell's pixels that hold data
        np.testing.assert_array_equal(first.read(), average_2x2(scene[OUTPUT_ARRAY][:], 0))
    with rasterio.open(probability) as dataset:
        assert dataset.dtypes[0] == "float32" and np.isnan(dataset.nodata)
    item = json.loads(item_path.read_text())
    assert item["assets"]["decloud"]["href"] == f"./{name}.tif"
    assert item["assets"]["cloud_probability"]["href"] == f"./{name}_cloud_probability.tif"
    assert item["properties"]["proj:shape"] == [600, 520]

    dataset = xr.open_zarr(str(path), group=f"scenes/{name}", consolidated=False)
    assert dataset.rio.crs == rasterio.crs.CRS.from_user_input(scene.attrs["crs"])
    assert tuple(dataset.rio.transform())[:6] == pytest.approx(tuple(scene.attrs["transform"]))
    assert dataset[DONE_ARRAY].dims == ("tile_row", "tile_col")
    red = dataset[OUTPUT_ARRAY].sel(s2_band="B04")
    np.testing.assert_array_equal(red.values, scene[OUTPUT_ARRAY][3])
    assert red.rio.crs == dataset.rio.crs


def test_overviews_average_the_pixels_that_hold_data():
    rng = np.random.default_rng(5)
    block = rng.integers(1, 10000, (3, 7, 9)).astype(np.uint16)  # odd sides: edge cells have fewer pixels
    block[:, :2, :2] = 0  # a whole cell without data stays no-data
    block[0, 2, 2] = 0  # a cell with one pixel missing averages the other three
    halved = average_2x2(block, 0)
    expected = np.full((3, 4, 5), np.nan)
    padded = np.full((3, 8, 10), np.nan)
    padded[:, :7, :9] = np.where(block == 0, np.nan, block)
    cells = padded.reshape(3, 4, 2, 5, 2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan cells
        expected = np.nanmean(cells, axis=(2, 4))
    np.testing.assert_array_equal(halved, np.where(np.isnan(expected), 0, np.floor(expected + 0.5)).astype(np.uint16))
    assert halved[0, 0, 0] == 0 and halved[0, 1, 1] == round(np.mean(block[0, 2:4, 2:4][block[0, 2:4, 2:4] > 0]))
    probability = np.array([[[0.2, np.nan], [np.nan, np.nan]]], np.float32)
    assert average_2x2(probability, np.nan)[0, 0, 0] == np.float32(0.2)  # NaN is the probability's no-data
    assert np.isnan(average_2x2(np.full((1, 2, 2), np.nan, np.float32), np.nan)).all()
