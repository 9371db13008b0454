"""The notebook calls: a cloudy GeoTIFF to a declouded COG in one line, a collection as a torch Dataset."""

import numpy as np
import pytest
import rasterio

import equicr
from equicr.checkpoint import save_checkpoint
from equicr.data.sen12mscr import index_tree
from equicr.decloud.pipeline import decloud_whole_image
from equicr.models import ModelConfig, build_model
from equicr.paths import SHIPPED_MODEL


def test_a_cloudy_geotiff_becomes_a_declouded_cog_with_the_shipped_model(mini_dir, tmp_path):
    paths = index_tree(mini_dir)[0][0].paths
    out = equicr.decloud_geotiff(paths["s2_cloudy"], tmp_path / "declouded.tif", tile_size=96, precision="fp32",
                                 work_dir=tmp_path, progress=False)  # fmt: skip
    with rasterio.open(paths["s2_cloudy"]) as source, rasterio.open(out) as written:
        cloudy, crs, transform = source.read(), source.crs, source.transform
        assert written.count == 13 and written.nodata == 0 and written.crs == crs and written.transform == transform
        declouded = written.read()
    whole = decloud_whole_image(SHIPPED_MODEL, None, cloudy)  # the optical model needs no Sentinel-1
    assert np.abs(declouded.astype(int) - whole.astype(int)).max() <= 1  # tiles of 96 px with their halo
    assert [p.name for p in tmp_path.iterdir()] == ["declouded.tif"]  # the temporary collection is gone


def test_a_sar_model_without_sentinel1_is_refused_by_name(mini_dir, tmp_path):
    config = ModelConfig("dsen2cr", width=2, num_blocks=1)  # sar+opt
    model = save_checkpoint(tmp_path / "sar.pt", build_model(config), config)
    paths = index_tree(mini_dir)[0][0].paths
    with pytest.raises(ValueError, match=r"sar.pt reads Sentinel-1 \(sar\+opt\): pass s1="):
        equicr.decloud_geotiff(paths["s2_cloudy"], tmp_path / "out.tif", model=model, progress=False)
    assert not (tmp_path / "out.tif").exists()


def test_a_collection_opens_as_a_torch_dataset(tmp_path):
    from equicr.ingest.simulated import write_synthetic_patches

    path = write_synthetic_patches(tmp_path / "p.zarr", count=5, size=16, seed=1, split_fractions=(1.0, 0.0))
    dataset = equicr.open_patches(path, "train", "opt")
    assert len(dataset) == 5 and dataset[0]["inputs"].shape == (13, 16, 16)


def test_a_declouded_scene_opens_in_xarray_with_its_crs_and_nodata(tmp_path):
    import rioxarray  # noqa: F401
    import zarr

    from equicr.data.synthetic import make_scene, write_geotiff
    from equicr.decloud.output import OUTPUT_ARRAY, RECORD_ATTRIBUTE
    from equicr.decloud.pipeline import run_decloud
    from equicr.decloud.settings import DecloudSettings
    from equicr.errors import UserError
    from equicr.executors import ActorPool
    from equicr.ingest.geotiffs import ingest_scenes

    scene = make_scene(np.random.default_rng(4), (72, 64))
    cloudy = scene.s2_cloudy.copy()
    cloudy[:, :10, :12] = 0  # outside the swath: no measurement
    write_geotiff(tmp_path / "cloudy.tif", cloudy, scene.geo)
    collection = str(tmp_path / "scenes.zarr")
    ingest_scenes([("tile", None, tmp_path / "cloudy.tif")], collection, progress=False)
    run_decloud(collection, SHIPPED_MODEL, DecloudSettings(tile_size=64, precision="fp32"),
                pool=ActorPool(use_ray=False), progress=False)  # fmt: skip

    dataset = equicr.open_scene(collection, "tile")
    stored = zarr.open_group(collection)["scenes/tile"][OUTPUT_ARRAY][:]
    declouded = dataset[OUTPUT_ARRAY]
    with rasterio.open(tmp_path / "cloudy.tif") as source:
        assert declouded.rio.crs == source.crs and declouded.rio.transform() == source.transform
    assert declouded.rio.encoded_nodata == 0 and dataset["s2_cloudy"].rio.encoded_nodata == 0
    assert np.isnan(declouded.values[:, :10, :12]).all()  # no-data is masked, not a dark pixel
    np.testing.assert_array_equal(declouded.values[:, 10:, :], stored[:, 10:, :])  # measured pixels as stored
    declouded.rio.to_raster(tmp_path / "from-xarray.tif")
    with rasterio.open(tmp_path / "from-xarray.tif") as written:  # a GIS tool sees the nodata too
        assert written.nodata == 0 and (written.read()[:, :10, :12] == 0).all()

    group = zarr.open_group(collection)["scenes/tile"]
    group.attrs[RECORD_ATTRIBUTE] = {**group.attrs[RECORD_ATTRIBUTE], "complete": False}  # as a killed run leaves it
    with pytest.raises(UserError, match="unfinished decloud output; rerun equicr decloud"):
        equicr.open_scene(collection, "tile")
    with pytest.raises(UserError, match="has no scene 'other'; its scenes: tile"):
        equicr.open_scene(collection, "other")
    group.attrs["complete"] = False  # an ingest that was interrupted
    with pytest.raises(UserError, match="not completely ingested; rerun the ingest"):
        equicr.open_scene(collection, "tile")
