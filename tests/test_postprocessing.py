"""Post-processing: the weight of the prediction per pixel, and what each choice writes."""

import numpy as np
import pytest

from equicr.postprocessing import (
    BLEND,
    BLEND_HIGH,
    BLEND_LOW,
    DEFAULT_POSTPROCESSING,
    KEEP_CLEAR,
    POSTPROCESSING,
    RAW,
    combine,
    needs_clouds,
    network_weight,
)
from equicr.scaling import OPTICAL_FILL_DN


def images():
    rng = np.random.default_rng(0)
    prediction = rng.integers(1, 5000, (13, 4, 5)).astype(np.uint16)
    cloudy = rng.integers(1, 5000, (13, 4, 5)).astype(np.uint16)
    probability = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    mask = probability > 0.4
    return prediction, cloudy, probability, mask


def test_the_blend_ramps_linearly_between_its_two_probabilities():
    probability = np.array([0.0, BLEND_LOW, (BLEND_LOW + BLEND_HIGH) / 2, BLEND_HIGH, 1.0], np.float32)
    weight = network_weight(BLEND, probability, probability > 0.4)
    np.testing.assert_allclose(weight, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    assert network_weight(KEEP_CLEAR, probability, probability > 0.4).tolist() == [0, 1, 1, 1, 1]


@pytest.mark.parametrize("postprocessing", POSTPROCESSING)
def test_clear_pixels_keep_the_input_cloudy_ones_the_prediction_and_nodata_stays(postprocessing):
    prediction, cloudy, probability, mask = images()
    valid = np.ones(mask.shape, bool)
    valid[0, 0] = False
    output = combine(prediction, cloudy, valid, postprocessing, probability, mask)
    weight = network_weight(postprocessing, probability, mask) * np.ones(mask.shape)
    keep, predict = (weight == 0) & valid, (weight == 1) & valid
    assert np.array_equal(output[:, keep], cloudy[:, keep])
    assert np.array_equal(output[:, predict], prediction[:, predict])
    assert (output[:, ~valid] == OPTICAL_FILL_DN).all()
    between = (weight > 0) & (weight < 1)
    low, high = np.minimum(prediction, cloudy), np.maximum(prediction, cloudy)
    assert ((output >= low) & (output <= high))[:, between].all()  # a blend lies between the two
    assert needs_clouds(postprocessing) == (postprocessing != RAW)


def test_raw_needs_no_clouds_and_an_unknown_choice_is_refused():
    prediction, cloudy, _, _ = images()
    valid = np.ones(prediction.shape[1:], bool)
    assert np.array_equal(combine(prediction, cloudy, valid, RAW), prediction)
    with pytest.raises(ValueError, match="needs the cloud probability"):
        combine(prediction, cloudy, valid, BLEND)
    with pytest.raises(ValueError, match="must be one of"):
        network_weight("soft", np.zeros((2, 2)), np.zeros((2, 2), bool))
    assert POSTPROCESSING[0] == DEFAULT_POSTPROCESSING
