import numpy as np
import pytest
import torch

from equicr.bands import S1_BANDS, S2_BANDS, S2_RGB_BANDS, band_indices, input_bands
from equicr.scaling import (
    OPTICAL_DN_MAX,
    OPTICAL_MEASURED_MIN_DN,
    SAR_DB_RANGE,
    network_inputs,
    network_to_optical_dn,
    network_to_reflectance,
    network_to_sar_db,
    optical_dn_to_network,
    optical_dn_to_reflectance,
    optical_nodata_mask,
    optical_valid_mask,
    predicted_optical_dn,
    sar_db_to_network,
    sar_nodata_mask,
)


def test_band_layouts():
    assert len(S2_BANDS) == 13 and S2_BANDS[8] == "B8A"
    assert input_bands("sar+opt") == S2_BANDS + S1_BANDS
    assert input_bands("sar") == S1_BANDS
    assert band_indices(S2_RGB_BANDS) == [3, 2, 1]
    with pytest.raises(ValueError, match="unknown input mode 'rgb'"):
        input_bands("rgb")
    with pytest.raises(ValueError, match=r"\['B13'\]"):
        band_indices(("B13",))


def test_optical_round_trip_is_exact_for_valid_dn():
    dn = np.random.default_rng(0).integers(1, 10001, size=(2, 13, 8, 8), dtype=np.uint16)
    network = optical_dn_to_network(dn)
    assert network.dtype == np.float32 and network.min() >= 0 and network.max() <= 5
    np.testing.assert_array_equal(network_to_optical_dn(network), dn)


def test_a_prediction_is_never_stored_as_the_nodata_dn():
    """Dark or negative predictions clip to DN 1, not 0: DN 0 would turn a declouded pixel into a hole."""
    dark = np.full((13, 2, 3), -0.4, dtype=np.float32)
    dark[:, 0, 0] = 0.0002  # rounds to DN 0
    assert network_to_optical_dn(dark).min() == OPTICAL_MEASURED_MIN_DN == 1
    valid = np.array([[True, False, True], [True, True, False]])
    stored = predicted_optical_dn(dark, valid)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(optical_valid_mask(stored), valid)  # no-data exactly where an input was


def test_optical_dn_above_reflectance_one_is_clipped():
    dn = np.full((13, 2, 2), 12000, dtype=np.uint16)
    assert optical_dn_to_network(dn).max() == pytest.approx(5.0)
    assert optical_dn_to_reflectance(dn).max() == pytest.approx(1.0)
    assert network_to_optical_dn(np.full((13, 1, 1), 7.0)).max() == OPTICAL_DN_MAX


def test_sar_round_trip_within_range():
    rng = np.random.default_rng(1)
    db = np.stack([rng.uniform(*SAR_DB_RANGE[band], size=(6, 6)) for band in S1_BANDS]).astype(np.float32)
    db[db == 0] = -1.0  # exactly 0 dB is fill, not a measurement
    network = sar_db_to_network(db)
    assert network.min() >= 0 and network.max() <= 2
    np.testing.assert_allclose(network_to_sar_db(network), db, atol=1e-5)


def test_sar_range_endpoints_map_to_0_and_2():
    db = np.array([[[-25.0, -0.5, -40.0]], [[-32.5, -0.5, -40.0]]], dtype=np.float32)
    network = sar_db_to_network(db)
    np.testing.assert_allclose(network[:, 0, 0], [0.0, 0.0])
    np.testing.assert_allclose(network[:, 0, 1], [2 * 24.5 / 25, 2 * 32.0 / 32.5], rtol=1e-6)
    np.testing.assert_allclose(network[:, 0, 2], [0.0, 0.0])  # below range: clipped


def test_sar_fill_and_nan_become_lowest_backscatter_and_are_reported():
    db = np.full((2, 2, 2), -10.0, dtype=np.float32)
    db[0, 0, 0] = 0.0
    db[1, 1, 1] = np.nan
    network = sar_db_to_network(db)
    assert np.isfinite(network).all()
    assert network[0, 0, 0] == 0.0 and network[1, 1, 1] == 0.0
    np.testing.assert_array_equal(sar_nodata_mask(db), [[True, False], [False, True]])


def test_optical_nan_is_refused_and_fill_is_reported():
    dn = np.ones((13, 2, 2), dtype=np.float32)
    dn[4, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        optical_dn_to_network(dn)
    dn = np.ones((13, 2, 2), dtype=np.uint16)
    dn[:, 0, 1] = 0
    dn[3, 1, 1] = 0  # L1C reserves DN 0 in every band: one band at zero is outside that band's footprint
    np.testing.assert_array_equal(optical_nodata_mask(dn), [[False, True], [False, True]])
    np.testing.assert_array_equal(optical_valid_mask(dn), ~optical_nodata_mask(dn))  # no pixel is neither


def test_wrong_band_count_names_the_shape():
    with pytest.raises(ValueError, match=r"13, H, W.*got shape \(12, 4, 4\)"):
        optical_dn_to_network(np.zeros((12, 4, 4), dtype=np.uint16))
    with pytest.raises(ValueError, match=r"\(3, 4, 4\)"):
        sar_db_to_network(np.zeros((3, 4, 4), dtype=np.float32))


def test_network_to_reflectance_on_arrays_and_tensors():
    values = np.array([[-1.0, 0.0, 2.5, 5.0, 9.0]], dtype=np.float32)
    expected = [[0.0, 0.0, 0.5, 1.0, 1.0]]
    np.testing.assert_allclose(network_to_reflectance(values), expected)
    torch.testing.assert_close(network_to_reflectance(torch.from_numpy(values)), torch.tensor(expected))


def test_scaling_real_patch(real_triplet):
    sar = sar_db_to_network(real_triplet["s1"])
    optical = optical_dn_to_network(real_triplet["s2_cloudy"])
    assert np.isfinite(sar).all() and np.isfinite(optical).all()
    assert sar.min() >= 0 and sar.max() <= 2 and optical.min() >= 0 and optical.max() <= 5
    np.testing.assert_array_equal(network_to_optical_dn(optical), np.clip(real_triplet["s2_cloudy"], 1, 10000))


def test_network_inputs_follow_the_input_mode_band_order():
    s1 = np.full((2, 3, 3), -12.5, dtype=np.float32)
    s2 = np.full((13, 3, 3), 2000, dtype=np.uint16)
    both = network_inputs(s1, s2, "sar+opt")
    assert both.shape == (15, 3, 3) and both[0, 0, 0] == 1.0 and both[13, 0, 0] == 1.0  # optical first
    assert network_inputs(None, s2, "opt").shape == (13, 3, 3)
    assert network_inputs(s1[None], None, "sar").shape == (1, 2, 3, 3)
    with pytest.raises(ValueError, match="'sar' needs the Sentinel-1 image"):
        network_inputs(None, s2, "sar")


def test_sar_units_are_measured_from_the_values(real_triplet):
    from equicr.scaling import measure_sar_units, sar_in_db

    db = real_triplet["s1"]
    linear = 10 ** (db / 10)
    assert measure_sar_units(db, "db.tif") == "dB" and measure_sar_units(linear, "lin.tif") == "linear"
    np.testing.assert_allclose(sar_in_db(linear, "linear"), db, atol=1e-4)
    assert measure_sar_units(np.full((2, 4, 4), np.nan), "empty") is None
    with pytest.raises(ValueError, match=r"amp.tif: cannot tell the units .* \(median 1.5e\+03\)"):
        measure_sar_units(np.full((2, 4, 4), 1500.0), "amp.tif")
