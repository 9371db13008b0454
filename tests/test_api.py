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
