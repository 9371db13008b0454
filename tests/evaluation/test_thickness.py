"""Thick and thin cloud apart: pixels classed by how much the cloud brightened them, PSNR over each class."""

import numpy as np
import pytest

from equicr.evaluation.thickness import THICK_EXCESS, THIN_EXCESS, masked_psnr, thickness_classes
from equicr.metrics import PSNR_CAP_DB


def test_pixels_are_classed_by_the_visible_bands_excess_over_the_clear_date():
    clear = np.full((13, 8, 8), 0.08, dtype=np.float32)
    cloudy = clear.copy()
    cloudy[:, :4, :4] += 0.3  # the ground is hidden
    cloudy[:, 4:, :4] += 0.1  # the ground shows through
    cloudy[:, :2, 4:] += THIN_EXCESS / 2  # too little to count as cloud
    cloudy[[0, 9, 10], 6:, 6:] += 0.9  # bright only outside B02-B04 (aerosol, vapour, cirrus bands): not counted
    classes = thickness_classes(cloudy, clear)
    assert classes["thick"].sum() == classes["thin"].sum() == 16 and classes["clear"].sum() == 32
    assert classes["thick"][:4, :4].all() and classes["thin"][4:, :4].all()
    assert not (classes["thick"] & classes["thin"]).any()
    edge = clear.copy()
    edge[:, 0, 0] += THICK_EXCESS + 1e-3  # just over the threshold: thick
    assert thickness_classes(edge, clear)["thick"][0, 0]


def test_masked_psnr_scores_only_the_masked_pixels():
    target = np.zeros((13, 4, 4))
    output = target.copy()
    output[:, :2] = 0.1  # RMSE 0.1 on the top half, exact on the bottom
    top = np.zeros((4, 4), dtype=bool)
    top[:2] = True
    assert masked_psnr(output, target, top) == pytest.approx(20.0)
    assert masked_psnr(output, target, ~top) == PSNR_CAP_DB
