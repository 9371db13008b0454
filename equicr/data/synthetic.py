"""Seeded synthetic Sentinel scenes for demos and tests, with no preferred orientation.

Ground: land-cover regions (water, vegetation, bare soil, built-up) from smoothed random fields,
crossed by roads and rivers at uniformly random angles. Optical reflectance follows each class's
typical 13-band spectrum; SAR backscatter follows the same classes with multiplicative speckle.
Clouds: a smoothed random opacity field thresholded to the intended cover (clear to overcast),
thin haze to thick cloud, optional cirrus (bright in B10), and shadows cast in a random direction.
The spectra are plausible enough that s2cloudless finds the clouds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from scipy.ndimage import gaussian_filter, shift

from equicr.data.rasters import GeoReference
from equicr.data.sen12mscr import patch_path
from equicr.scaling import OPTICAL_DN_MAX, OPTICAL_DN_STORABLE_MAX

#: Typical top-of-atmosphere reflectance per land-cover class, bands B01..B12.
CLASS_SPECTRA: dict[str, list[float]] = {
    "water": [0.10, 0.08, 0.06, 0.04, 0.03, 0.02, 0.02, 0.015, 0.012, 0.005, 0.001, 0.005, 0.003],
    "vegetation": [0.07, 0.06, 0.07, 0.04, 0.10, 0.25, 0.30, 0.32, 0.33, 0.11, 0.002, 0.16, 0.08],
    "soil": [0.10, 0.11, 0.14, 0.18, 0.21, 0.23, 0.25, 0.26, 0.27, 0.09, 0.003, 0.32, 0.26],
    "built_up": [0.13, 0.13, 0.14, 0.15, 0.17, 0.18, 0.19, 0.20, 0.21, 0.07, 0.003, 0.22, 0.19],
}
#: Mean backscatter per class in dB (VV, VH).
CLASS_BACKSCATTER_DB: dict[str, tuple[float, float]] = {
    "water": (-22.0, -28.0),
    "vegetation": (-10.0, -16.5),
    "soil": (-13.0, -20.0),
    "built_up": (-6.0, -12.0),
}
#: Reflectance of a thick cloud and the extra reflectance of cirrus, bands B01..B12.
CLOUD_SPECTRUM = [0.50, 0.48, 0.47, 0.47, 0.48, 0.49, 0.50, 0.50, 0.50, 0.33, 0.06, 0.38, 0.27]
CIRRUS_SPECTRUM = [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.04, 0.05, 0.03, 0.02]
#: Equivalent number of looks of the speckle (Sentinel-1 GRD is about 4.4).
SPECKLE_LOOKS = 4.4
#: Synthetic scenes sit on a 10 m UTM grid.
SYNTHETIC_CRS = "EPSG:32632"
PIXEL_SIZE_M = 10.0


@dataclass(frozen=True)
class SyntheticScene:
    """One synthetic triplet and the cloud cover its generator intended."""

    s1: np.ndarray  # (2, H, W) float32 dB
    s2_cloudy: np.ndarray  # (13, H, W) uint16 DN
    s2: np.ndarray  # (13, H, W) uint16 DN
    intended_cover: float
    geo: GeoReference


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _line_mask(rng: np.random.Generator, shape: tuple[int, int], width_px: float) -> np.ndarray:
    """A straight feature through a random point at a uniformly random angle."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    angle = rng.uniform(0, np.pi)
    centre = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
    distance = np.abs((rows - centre[0]) * np.cos(angle) - (cols - centre[1]) * np.sin(angle))
    return distance < width_px / 2


def _ground(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Land-cover class index per pixel, with roads and rivers drawn over the regions."""
    scale = rng.uniform(6, 20)
    fields = np.stack([_smooth_field(rng, shape, scale) + rng.normal(0, 0.3) for _ in CLASS_SPECTRA])
    classes = fields.argmax(axis=0)
    names = list(CLASS_SPECTRA)
    for _ in range(rng.integers(0, 3)):
        classes[_line_mask(rng, shape, rng.uniform(3, 8))] = names.index("water")
    for _ in range(rng.integers(1, 4)):
        classes[_line_mask(rng, shape, rng.uniform(1, 3))] = names.index("built_up")
    return classes


def _clouds(rng: np.random.Generator, shape: tuple[int, int], cover: float) -> np.ndarray:
    """Cloud opacity in [0, 1] covering about ``cover`` of the image."""
    if cover <= 0:
        return np.zeros(shape)
    field = _smooth_field(rng, shape, rng.uniform(8, 24))
    threshold = np.quantile(field, 1.0 - cover) if cover < 1 else field.min() - 1
    softness = rng.uniform(0.2, 0.6)
    thickness = rng.uniform(0.6, 1.0)
    return np.clip((field - threshold) / softness + 0.35, 0, 1) * thickness * (field > threshold)


def add_clouds(rng: np.random.Generator, clear: np.ndarray, cover: float) -> np.ndarray:
    """``clear`` reflectance (13, H, W) under seeded clouds of about ``cover``, their shadows, haze and cirrus."""
    opacity = _clouds(rng, clear.shape[1:], cover)
    cloudy = clear.copy()
    if opacity.any():
        angle = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(5, 20) * np.array([np.sin(angle), np.cos(angle)])
        shadow = np.clip(shift(opacity, offset, order=1, mode="constant"), 0, 1) * (1 - opacity)
        cloudy = cloudy * (1 - 0.55 * shadow)
        cloud = np.asarray(CLOUD_SPECTRUM)[:, None, None]
        cloudy = cloudy * (1 - opacity) + cloud * opacity
    haze = rng.uniform(0, 0.1) * (rng.uniform() < 0.5)  # thin haze everywhere, below the detector
    cloudy = cloudy * (1 - haze) + np.asarray(CLOUD_SPECTRUM)[:, None, None] * haze
    if rng.uniform() < 0.3:
        cirrus = np.clip(_smooth_field(rng, clear.shape[1:], 30.0), 0, None) * rng.uniform(0.1, 0.4)
        cloudy = cloudy + np.asarray(CIRRUS_SPECTRUM)[:, None, None] * cirrus
    return cloudy


def make_scene(
    rng: np.random.Generator, size: tuple[int, int] = (256, 256), cover: float | None = None
) -> SyntheticScene:
    """Generate one triplet; ``cover`` is the intended cloud cover (random in [0, 1] if None)."""
    cover = float(rng.uniform(0, 1)) if cover is None else float(cover)
    classes = _ground(rng, size)
    names = list(CLASS_SPECTRA)
    spectra = np.array([CLASS_SPECTRA[n] for n in names])  # (classes, 13)
    texture = 1 + 0.08 * _smooth_field(rng, size, 2.0)
    clear = np.moveaxis(spectra[classes], -1, 0) * texture  # (13, H, W)
    clear = clear + rng.normal(0, 0.003, clear.shape)

    backscatter = np.array([CLASS_BACKSCATTER_DB[n] for n in names])  # (classes, 2)
    mean_db = np.moveaxis(backscatter[classes], -1, 0) + 1.5 * _smooth_field(rng, size, 3.0)
    speckle = rng.gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, (2, *size))
    s1 = 10 * np.log10(10 ** (mean_db / 10) * speckle)

    cloudy = add_clouds(rng, clear, cover)

    origin = rng.integers(300, 700) * 1000.0, rng.integers(4000, 6000) * 1000.0
    geo = GeoReference(SYNTHETIC_CRS, (PIXEL_SIZE_M, 0.0, origin[0], 0.0, -PIXEL_SIZE_M, origin[1]))
    return SyntheticScene(
        s1=s1.astype(np.float32),
        s2_cloudy=_to_dn(cloudy),
        s2=_to_dn(clear),
        intended_cover=cover,
        geo=geo,
    )


def _to_dn(reflectance: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(reflectance * OPTICAL_DN_MAX), 1, OPTICAL_DN_STORABLE_MAX).astype(np.uint16)


def write_geotiff(path: Path, data: np.ndarray, geo: GeoReference) -> Path:
    """Write a (bands, H, W) array as a GeoTIFF on ``geo``'s grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": data.dtype.name, "crs": geo.crs, "transform": rasterio.Affine(*geo.transform),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
    return path


def write_sen12mscr_tree(
    root: str | Path, scenes: dict[str, list[int]], patches_per_scene: int, seed: int = 0, size: int = 256
) -> list[Path]:
    """Write synthetic triplets in the SEN12MS-CR layout; ``scenes`` maps season to scene numbers."""
    rng = np.random.default_rng(seed)
    root, written = Path(root), []
    for season, numbers in scenes.items():
        for scene_number in numbers:
            for patch in range(1, patches_per_scene + 1):
                scene = make_scene(rng, (size, size))
                for kind in ("s1", "s2_cloudy", "s2"):
                    path = patch_path(root, season, kind, scene_number, patch)
                    written.append(write_geotiff(path, getattr(scene, kind), scene.geo))
    return written
