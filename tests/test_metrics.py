import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from equicr.metrics import PSNR_CAP_DB, image_metrics, mae, mean_metrics, psnr, sam, ssim
from equicr.scaling import optical_dn_to_reflectance

SSIM_TOLERANCE = 1e-4  # the bound against scikit-image


def skimage_ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    return structural_similarity(
        target, prediction, data_range=1, channel_axis=0,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    )  # fmt: skip


def test_ssim_matches_scikit_image_on_random_images():
    rng = np.random.default_rng(0)
    target = rng.random((3, 13, 40, 33))
    prediction = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1)
    ours = ssim(torch.from_numpy(prediction), torch.from_numpy(target)).numpy()
    reference = [skimage_ssim(p, t) for p, t in zip(prediction, target, strict=True)]
    np.testing.assert_allclose(ours, reference, atol=SSIM_TOLERANCE)
    assert ours.std() > 0  # one value per image, not one broadcast value


def test_ssim_matches_scikit_image_on_real_patches(real_triplet_paths):
    from equicr.data.rasters import read_raster

    for paths in real_triplet_paths[:4]:
        cloudy = optical_dn_to_reflectance(read_raster(paths["s2_cloudy"], "s2_cloudy").data)
        clear = optical_dn_to_reflectance(read_raster(paths["s2"], "s2").data)
        ours = float(ssim(torch.from_numpy(cloudy)[None], torch.from_numpy(clear)[None])[0])
        assert ours == pytest.approx(
            skimage_ssim(cloudy.astype(np.float64), clear.astype(np.float64)), abs=SSIM_TOLERANCE
        )


def test_psnr_and_mae_follow_their_definitions():
    target = torch.zeros(2, 13, 8, 8)
    prediction = target.clone()
    prediction[0] += 0.1
    prediction[1, :, :4] += 0.2  # half the pixels off by 0.2: RMSE sqrt(0.02)
    torch.testing.assert_close(mae(prediction, target), torch.tensor([0.1, 0.1]))
    expected = torch.tensor([20 * math.log10(1 / 0.1), 20 * math.log10(1 / math.sqrt(0.02))])
    torch.testing.assert_close(psnr(prediction, target), expected)
    assert psnr(target, target)[0] == PSNR_CAP_DB  # identical images: the cap, not infinity


def test_sam_angles_in_degrees_and_no_nan_on_zero_pixels():
    target = torch.zeros(1, 2, 1, 4)
    prediction = torch.zeros(1, 2, 1, 4)
    target[0, :, 0, 0], prediction[0, :, 0, 0] = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])  # 90
    target[0, :, 0, 1], prediction[0, :, 0, 1] = torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0])  # 0
    target[0, :, 0, 2] = torch.tensor([1.0, 0.0])  # prediction all zero: 90
    # pixel 3: both all zero: identical, 0
    values = sam(prediction, target)
    assert torch.isfinite(values).all()
    assert float(values[0]) == pytest.approx((90 + 0 + 90 + 0) / 4, abs=1e-4)


def test_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(1, 13, 8, 8\) and \(1, 12, 8, 8\)"):
        image_metrics(torch.zeros(1, 13, 8, 8), torch.zeros(1, 12, 8, 8))


def test_mean_metrics_count_every_image():
    means = mean_metrics({"psnr": torch.tensor([100.0, 30.0, 50.0]), "mae": torch.tensor([0.0, 0.1, 0.2])})
    assert means == pytest.approx({"psnr": 60.0, "mae": 0.1})
    assert math.isnan(mean_metrics({"psnr": torch.tensor([])})["psnr"])


def test_real_patch_metrics_are_finite_and_ordered(real_triplet):
    target = torch.from_numpy(optical_dn_to_reflectance(real_triplet["s2"]))[None]
    cloudy = torch.from_numpy(optical_dn_to_reflectance(real_triplet["s2_cloudy"]))[None]
    perfect = image_metrics(target, target)
    degraded = image_metrics(cloudy, target)
    assert all(torch.isfinite(v).all() for k, v in degraded.items())
    assert float(degraded["ssim"]) < float(perfect["ssim"]) == pytest.approx(1.0)
    assert float(degraded["sam"]) > float(perfect["sam"]) == pytest.approx(0.0, abs=1e-3)
