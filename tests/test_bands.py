"""Sensor facts stated once: band tables, the triplet's products and the input modes' channel layout."""

import numpy as np
import pytest

from equicr.bands import (
    INPUT_MODES,
    PRODUCTS,
    S1_BANDS,
    S2_BANDS,
    TRIPLET,
    has_optical_input,
    has_sar_input,
    input_bands,
    optical_channels,
    sar_channels,
)
from equicr.data.collection import create_patches
from equicr.data.rasters import RasterError, read_raster
from equicr.scaling import OPTICAL_FILL_DN, SAR_FILL_DB, network_inputs


@pytest.mark.parametrize("mode", INPUT_MODES)
def test_channel_slices_pick_each_sensor_out_of_the_network_input(mode):
    rng = np.random.default_rng(0)
    s1 = rng.uniform(-20, -5, (2, 4, 4)).astype(np.float32)
    s2 = rng.integers(1, 10000, (13, 4, 4)).astype(np.uint16)
    inputs = network_inputs(s1, s2, mode)
    assert inputs.shape[0] == len(input_bands(mode))
    optical, sar = inputs[optical_channels(mode)], inputs[sar_channels(mode)]
    assert optical.shape[0] == (len(S2_BANDS) if has_optical_input(mode) else 0)
    assert sar.shape[0] == (len(S1_BANDS) if has_sar_input(mode) else 0)
    if has_optical_input(mode):
        np.testing.assert_array_equal(optical, network_inputs(None, s2, "opt"))
    if has_sar_input(mode):
        np.testing.assert_array_equal(sar, network_inputs(s1, None, "sar"))


def test_the_product_table_drives_collections_and_readers(tmp_path, mini_dir):
    group = create_patches(tmp_path / "p.zarr", ["a"], patch_size=8)
    for name in TRIPLET:
        product = PRODUCTS[name]
        array = group[name]
        assert array.shape == (1, len(product.bands), 8, 8) and np.dtype(array.dtype) == product.dtype
        assert array.fill_value == product.fill and array.metadata.dimension_names[1] == product.band_dimension
    assert (PRODUCTS["s1"].fill, PRODUCTS["s2"].fill) == (SAR_FILL_DB, OPTICAL_FILL_DN)
    s2_file = next(mini_dir.glob("*_s2/*/*.tif"))
    with pytest.raises(RasterError, match=r"s1 needs 2 bands \('VV', 'VH'\), the file has 13"):
        read_raster(s2_file, "s1")


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="unknown input mode 'rgb'"):
        input_bands("rgb")
