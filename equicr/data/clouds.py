"""Cloud probability, mask and cover from the real s2cloudless model (Sentinel Hub's LightGBM detector).

Settings are the paper's (DESIGN.md section 6): threshold 0.4, all 13 bands, averaging over 4 px,
dilation 2. The detector reads reflectance (DN / 10000) channels last; these functions take DN in
the project's (bands, H, W) layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from s2cloudless import S2PixelCloudDetector

from equicr.bands import S2_BANDS
from equicr.scaling import optical_dn_to_reflectance

CLOUD_THRESHOLD = 0.4
CLOUD_AVERAGE_OVER = 4
CLOUD_DILATION = 2


@lru_cache(maxsize=1)
def cloud_detector() -> S2PixelCloudDetector:
    """The s2cloudless detector with the paper's settings, loaded once per process."""
    return S2PixelCloudDetector(
        threshold=CLOUD_THRESHOLD, all_bands=True, average_over=CLOUD_AVERAGE_OVER, dilation_size=CLOUD_DILATION
    )


@dataclass(frozen=True)
class CloudResult:
    """Per-pixel cloud probability and mask (N, H, W), and the cover fraction per image (N,)."""

    probability: np.ndarray
    mask: np.ndarray
    cover: np.ndarray


def detect_clouds(dn: np.ndarray) -> CloudResult:
    """Run s2cloudless on Sentinel-2 DN of shape (13, H, W) or (N, 13, H, W)."""
    dn = np.asarray(dn)
    batch = dn[None] if dn.ndim == 3 else dn
    if batch.ndim != 4 or batch.shape[1] != len(S2_BANDS):
        raise ValueError(
            f"cloud detection needs all {len(S2_BANDS)} Sentinel-2 bands {S2_BANDS} as (N, 13, H, W); "
            f"got shape {dn.shape}"
        )
    reflectance = np.moveaxis(optical_dn_to_reflectance(batch), 1, -1)
    detector = cloud_detector()
    probability = detector.get_cloud_probability_maps(reflectance).astype(np.float32)
    mask = detector.get_mask_from_prob(probability).astype(bool)
    return CloudResult(probability, mask, mask.reshape(len(mask), -1).mean(axis=1))
