"""Image-quality metrics of the paper: PSNR, MAE, SSIM and SAM, batched in torch, one value per image.

Inputs are reflectance in [0, 1] (see :func:`equicr.scaling.network_to_reflectance`) of shape
(N, bands, H, W). Each metric is computed per image over bands, rows and columns; averaging over
images is left to the caller. SSIM matches scikit-image's ``structural_similarity(data_range=1,
channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``; SAM follows the
formula in UnCRtainTS' metrics code.
"""

from __future__ import annotations

import math

import torch

from equicr.errors import UserError

#: Metric values lie in [0, DATA_RANGE].
DATA_RANGE = 1.0
#: SSIM's Gaussian window: standard deviation and truncation (scikit-image / scipy defaults).
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
#: SSIM's stabilising constants, relative to the data range.
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: PSNR of identical images (RMSE 0) is reported as this many dB instead of infinity, everywhere:
#: training history, evaluation records, means and reports all see the same finite number.
PSNR_CAP_DB = 100.0
#: Names of the metrics :func:`image_metrics` returns, and whether higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {"psnr": True, "mae": False, "ssim": True, "sam": False}


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise UserError(
            "prediction and target must both have shape (N, bands, H, W); "
            f"got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def mae(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image."""
    _check_pair(prediction, target)
    return (prediction - target).abs().flatten(1).mean(dim=1)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, ``20 log10(DATA_RANGE / RMSE)``, at most :data:`PSNR_CAP_DB`."""
    _check_pair(prediction, target)
    rmse = (prediction.double() - target.double()).pow(2).flatten(1).mean(dim=1).sqrt()
    return (20.0 * torch.log10(DATA_RANGE / rmse)).clamp(max=PSNR_CAP_DB).to(prediction.dtype)


def _gaussian_window(sigma: float, truncate: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    window = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return window / window.sum()


def _filter_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of every band, keeping only pixels whose window lies inside the image.

    Written as two matrix products with banded matrices (rows, then columns): the same sums as
    unpadded convolution, but float64 matrix products run on BLAS, about 3x faster here than
    float64 ``conv2d``, which has no optimised CPU kernel.
    """
    height, width = x.shape[-2:]
    return _band_matrix(window, height) @ x @ _band_matrix(window, width).T


def _band_matrix(window: torch.Tensor, size: int) -> torch.Tensor:
    """The (size - taps + 1, size) matrix whose rows hold ``window`` at every valid offset."""
    taps = window.numel()
    rows = size - taps + 1
    matrix = torch.zeros(rows, size, dtype=window.dtype, device=window.device)
    index = torch.arange(rows, device=window.device)[:, None] + torch.arange(taps, device=window.device)[None]
    return matrix.scatter_(1, index, window.expand(rows, taps))


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image: the mean SSIM map over bands and interior pixels.

    Like scikit-image, the map is averaged only where the 11x11 window lies inside the image,
    which is what filtering without padding gives. Computed in float64.
    """
    _check_pair(prediction, target)
    x, y = prediction.double(), target.double()
    window = _gaussian_window(SSIM_SIGMA, SSIM_TRUNCATE, x.dtype, x.device)
    if min(x.shape[-2:]) < window.numel():
        raise UserError(
            f"SSIM needs images of at least {window.numel()}x{window.numel()} px, got {tuple(x.shape[-2:])}"
        )
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov_xy = _filter_valid(x * y, window) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1).to(prediction.dtype)


def sam(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spectral angle mapper per image in degrees: the mean angle between predicted and true spectra.

    Pixels where both spectra are all zero count as 0 degrees (identical) and pixels where exactly one
    is all zero as 90 degrees, so SAM is never NaN.
    """
    _check_pair(prediction, target)
    x, y = prediction.double(), target.double()
    dot = (x * y).sum(dim=1)
    norm_x, norm_y = x.norm(dim=1), y.norm(dim=1)
    both_zero = (norm_x == 0) & (norm_y == 0)
    denominator = norm_x * norm_y
    cosine = torch.where(denominator > 0, dot / denominator.clamp_min(torch.finfo(x.dtype).tiny), both_zero.double())
    angles = torch.rad2deg(torch.arccos(cosine.clamp(-1.0, 1.0)))
    return angles.flatten(1).mean(dim=1).to(prediction.dtype)


def image_metrics(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """All four metrics per image, keyed as in :data:`HIGHER_IS_BETTER`."""
    with torch.no_grad():
        return {
            "psnr": psnr(prediction, target),
            "mae": mae(prediction, target),
            "ssim": ssim(prediction, target),
            "sam": sam(prediction, target),
        }


def mean_metrics(per_image: dict[str, torch.Tensor]) -> dict[str, float]:
    """Average per-image metrics over images (NaN for a metric with no images)."""
    return {name: float(values.double().mean()) if values.numel() else math.nan for name, values in per_image.items()}
