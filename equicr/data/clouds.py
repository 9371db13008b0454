"""Cloud probability, mask and cover from the real s2cloudless model (Sentinel Hub's LightGBM detector).

Settings are the paper's: threshold 0.4, all 13 bands, averaging over 4 px,
dilation 2. The detector reads reflectance (DN / 10000) channels last; these functions take DN in
the project's (bands, H, W) layout.
"""

from __future__ import annotations

from collections.abc import Callable
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


def window_clouds(
    read: Callable[[slice, slice], np.ndarray], height: int, width: int, rows: slice, cols: slice,
    resolution_m: int = SCENE_CLOUD_RESOLUTION_M,
) -> CloudResult:  # fmt: skip
    """s2cloudless's probability and mask of the window ``rows, cols`` of a (13, height, width) image, tile-free.

    The same pixels come out whichever window asks for them: the detector runs on a larger window
    aligned to the coarse grid of ``resolution_m`` (so area averaging takes the same blocks), with
    a margin that covers its averaging, dilation and the bilinear upsampling, padded at the image's
    edge to whole coarse pixels; then it is cropped back. ``read(rows, cols)`` gives the DN of any
    window of the image. Declouding, evaluation and the standalone ONNX script rely on this to be
    exact under tiling.
    """
    factor, margin = resolution_m // NATIVE_RESOLUTION_M, window_margin(resolution_m)
    top, left = max(0, rows.start - margin) // factor * factor, max(0, cols.start - margin) // factor * factor
    bottom, right = min(height, rows.stop + margin), min(width, cols.stop + margin)
    dn = read(slice(top, bottom), slice(left, right))
    pad_rows, pad_cols = -(bottom - top) % factor, -(right - left) % factor
    if pad_rows or pad_cols:  # only where the window meets the image's edge: the same padding for every window
        dn = np.pad(dn, ((0, 0), (0, pad_rows), (0, pad_cols)), mode="edge")
    found = detect_clouds(dn, resolution_m)
    crop = (slice(None), slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
    mask = found.mask[crop]
    return CloudResult(found.probability[crop], mask, mask.reshape(len(mask), -1).mean(axis=1))


def window_margin(resolution_m: int) -> int:
    """Pixels (10 m) around a window that s2cloudless's averaging, dilation and upsampling at ``resolution_m`` reach."""
    detector = cloud_detector(resolution_m)
    return (detector.average_over + detector.dilation_size + 2) * (resolution_m // NATIVE_RESOLUTION_M)


def image_clouds(dn: np.ndarray, resolution_m: int = SCENE_CLOUD_RESOLUTION_M) -> CloudResult:
    """:func:`window_clouds` of a whole (13, H, W) or (N, 13, H, W) image: what declouding computes for its pixels."""
    batch = dn[None] if dn.ndim == 3 else dn
    height, width = batch.shape[-2:]
    found = [window_clouds(lambda r, c, i=i: batch[i][:, r, c], height, width, slice(0, height), slice(0, width),
                           resolution_m) for i in range(len(batch))]  # fmt: skip
    return CloudResult(*(np.concatenate([getattr(f, key) for f in found]) for key in ("probability", "mask", "cover")))
