"""Cloud probability, mask and cover from the real s2cloudless model (Sentinel Hub's LightGBM detector).

Settings are the paper's: threshold 0.4, all 13 bands, averaging over 4 px,
dilation 2. The detector reads reflectance (DN / 10000) channels last; these functions take DN in
the project's (bands, H, W) layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from equicr.bands import S2_BANDS
from equicr.errors import UserError
from equicr.scaling import optical_dn_to_reflectance

if TYPE_CHECKING:  # s2cloudless and OpenCV load on first use, so job --help stays light
    from s2cloudless import S2PixelCloudDetector

CLOUD_THRESHOLD = 0.4
CLOUD_AVERAGE_OVER = 4
CLOUD_DILATION = 2
#: Sentinel-2's finest pixel, and that of every patch and scene here, in metres.
NATIVE_RESOLUTION_M = 10
#: Resolutions s2cloudless may run at. Patches keep 10 m, so Fig. 3's cover bins stay comparable
#: with the literature; scenes run at 60 m by default (Sentinel Hub runs its product at 160 m):
#: bench/cloud_resolution.py measures the speed-up and the mask agreement with 10 m.
CLOUD_RESOLUTIONS_M = (10, 20, 60, 160)
SCENE_CLOUD_RESOLUTION_M = 60


@lru_cache(maxsize=len(CLOUD_RESOLUTIONS_M))
def cloud_detector(resolution_m: int = NATIVE_RESOLUTION_M) -> S2PixelCloudDetector:
    """The s2cloudless detector with the paper's settings, loaded once per process and resolution.

    Averaging and dilation keep their ground extent (40 m and 20 m) at coarser resolutions, down
    to no averaging and no dilation once a pixel is larger than that.
    """
    from s2cloudless import S2PixelCloudDetector

    factor = resolution_m / NATIVE_RESOLUTION_M
    return S2PixelCloudDetector(
        threshold=CLOUD_THRESHOLD, all_bands=True, average_over=max(1, round(CLOUD_AVERAGE_OVER / factor)),
        dilation_size=round(CLOUD_DILATION / factor),
    )  # fmt: skip


@dataclass(frozen=True)
class CloudResult:
    """Per-pixel cloud probability and mask (N, H, W), and the cover fraction per image (N,)."""

    probability: np.ndarray
    mask: np.ndarray
    cover: np.ndarray


def detect_clouds(dn: np.ndarray, resolution_m: int = NATIVE_RESOLUTION_M) -> CloudResult:
    """Run s2cloudless on Sentinel-2 DN of shape (13, H, W) or (N, 13, H, W), at 10 m or coarser.

    At a coarser ``resolution_m`` the reflectance is area-averaged down to it (OpenCV's INTER_AREA),
    the detector runs there, and probability (bilinear) and mask (nearest) come back on the input
    grid: about (resolution / 10)^2 times fewer pixels for the detector.
    """
    import cv2  # s2cloudless's own dependency

    if resolution_m not in CLOUD_RESOLUTIONS_M:
        raise UserError(f"cloud detection runs at {CLOUD_RESOLUTIONS_M} m, not {resolution_m} m")
    dn = np.asarray(dn)
    batch = dn[None] if dn.ndim == 3 else dn
    if batch.ndim != 4 or batch.shape[1] != len(S2_BANDS):
        raise UserError(
            f"cloud detection needs all {len(S2_BANDS)} Sentinel-2 bands {S2_BANDS} as (N, 13, H, W); "
            f"got shape {dn.shape}"
        )
    height, width = batch.shape[2:]
    factor = resolution_m / NATIVE_RESOLUTION_M
    coarse = (max(1, round(width / factor)), max(1, round(height / factor)))  # OpenCV's (width, height)
    if factor > 1:  # area-average the DN first: the conversion then touches only the coarse pixels
        batch = np.stack([[_resize(band, coarse, cv2.INTER_AREA) for band in image] for image in batch])
    reflectance = np.moveaxis(optical_dn_to_reflectance(batch), 1, -1)
    detector = cloud_detector(resolution_m)
    probability = detector.get_cloud_probability_maps(reflectance).astype(np.float32)
    mask = detector.get_mask_from_prob(probability).astype(np.uint8)
    if factor > 1:
        probability = np.stack([_resize(p, (width, height), cv2.INTER_LINEAR) for p in probability])
        mask = np.stack([_resize(m, (width, height), cv2.INTER_NEAREST) for m in mask])
    mask = mask.astype(bool)
    return CloudResult(probability, mask, mask.reshape(len(mask), -1).mean(axis=1))


def _resize(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """OpenCV's resize of an (H, W) image to (width, height)."""
    import cv2

    return cv2.resize(image, size, interpolation=interpolation)
