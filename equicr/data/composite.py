"""Real ground, simulated clouds: training patches from real clear Sentinel-2 backgrounds.

The clouds and their shadows come from SatelliteCloudGenerator (Czerkawski et al., "Satellite
Cloud Generator", Remote Sensing 2023; PyPI ``satellite-cloud-generator``): Perlin-noise cloud
shapes from thin haze to opaque, locally varying blur under thick cloud, per-band misalignment and
thickness jitter, and shadows. What it cannot know is how bright a cloud is in each Sentinel-2
band; that is measured here on real L1C clouds outside the test bench
(:func:`measure_cloud_reflectance`) and given to it as the per-band cloud magnitude:

- **thick** clouds take the median reflectance of real pixels s2cloudless rates above 0.9;
- **cirrus** is thin and bright in B10 (1.375 um, where the water vapour below absorbs the ground's
  signal, so only high ice cloud shows): the thin-cloud profile with B10 raised to a quarter of the
  visible bands, as cirrus appears in real L1C (``CIRRUS_B10_RATIO``).

Each composite is a random crop of one background, one cloud kind drawn by weight, and the
background's real Sentinel-1 where it has one (else the SAR fill value: no measurement). Composite
``i`` depends only on ``(seed, i)``, so generation is reproducible patch by patch and a rerun
resumes. Every tenth composite validates (:func:`composite_split`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from equicr.bands import PRODUCTS
from equicr.data.clouds import detect_clouds
from equicr.data.rasters import GeoReference, read_raster
from equicr.data.real import RealPatch
from equicr.errors import UserError
from equicr.scaling import OPTICAL_DN_MAX, OPTICAL_DN_STORABLE_MAX

#: Median top-of-atmosphere reflectance per band (B01..B12) of real thick cloud (s2cloudless > 0.9)
#: in the cloudy images of the real-data folder outside the test bench: 545,858 pixels of 22 images
#: (``measure_cloud_reflectance``; tests check these against a fresh measurement).
THICK_CLOUD_REFLECTANCE = (0.5696, 0.5673, 0.5288, 0.588, 0.61, 0.629, 0.6484, 0.6344, 0.6692, 0.3769, 0.0133,
                           0.5156, 0.4197)  # fmt: skip
#: The same for thin cloud (s2cloudless 0.4-0.6): 85,951 pixels.
THIN_CLOUD_REFLECTANCE = (0.2177, 0.1825, 0.1479, 0.1404, 0.1539, 0.1794, 0.1934, 0.1926, 0.2108, 0.0845, 0.0022,
                          0.1096, 0.0808)  # fmt: skip
#: Cirrus in B10 relative to the mean of B02, B03, B04.
CIRRUS_B10_RATIO = 0.25
B10 = PRODUCTS["s2"].bands.index("B10")


@dataclass(frozen=True)
class CloudKind:
    """One kind of simulated cloud: how often it is drawn, SatelliteCloudGenerator's settings, band profile."""

    weight: float
    settings: dict
    reflectance: tuple[float, ...]
    shadow: bool


def _cirrus_reflectance() -> tuple[float, ...]:
    profile = list(THIN_CLOUD_REFLECTANCE)
    profile[B10] = CIRRUS_B10_RATIO * float(np.mean(THIN_CLOUD_REFLECTANCE[1:4]))
    return tuple(profile)


#: SatelliteCloudGenerator's own configurations (its configs.py), with our band profiles and without
#: its per-band cloud shift: version 0.4 crops and resizes the whole cloud once per shifted band, so
#: over 13 bands the zoom compounds and the bands' clouds drift apart into strong colour casts (the
#: worse the smaller the patch; tests/data/test_composite.py checks the bands stay in step).
CLOUD_KINDS: dict[str, CloudKind] = {
    "thick-local": CloudKind(0.3, {"min_lvl": 0.0, "max_lvl": 1.0, "decay_factor": 1.0, "clear_threshold": [0.0, 0.2],
                                   "locality_degree": [2, 4], "channel_offset": 0, "blur_scaling": 2},
                             THICK_CLOUD_REFLECTANCE, True),
    "thick-wide": CloudKind(0.1, {"min_lvl": 0.0, "max_lvl": 1.0, "decay_factor": 1.0, "clear_threshold": [0.0, 0.2],
                                  "locality_degree": 1, "channel_offset": 0, "blur_scaling": 2},
                            THICK_CLOUD_REFLECTANCE, True),
    "thin": CloudKind(0.3, {"min_lvl": [0.0, 0.1], "max_lvl": [0.4, 0.7], "decay_factor": 1.0, "clear_threshold": 0.0,
                            "locality_degree": [1, 3], "channel_offset": 0, "blur_scaling": 2},
                      THICK_CLOUD_REFLECTANCE, False),
    "haze": CloudKind(0.15, {"min_lvl": [0.3, 0.6], "max_lvl": [0.6, 0.7], "decay_factor": 1.0, "clear_threshold": 0.0,
                             "locality_degree": 1, "channel_offset": 0, "blur_scaling": 2},
                      THIN_CLOUD_REFLECTANCE, False),
    # No cloud at all: the network learns to leave clear ground as it is (do no harm).
    "clear": CloudKind(0.1, {}, THIN_CLOUD_REFLECTANCE, False),
    "cirrus": CloudKind(0.15, {"min_lvl": [0.0, 0.1], "max_lvl": [0.5, 1.0], "decay_factor": 1.5,
                               "clear_threshold": 0.0, "locality_degree": [1, 2], "channel_offset": 0,
                               "blur_scaling": 1},
                        _cirrus_reflectance(), False),
}  # fmt: skip


def kind_shares(weights: dict[str, float]) -> str:
    """The cloud kinds with the share of composites each gets ("cirrus 14%, ..."): weights count relative to their sum.

    ``weights``: kind name to weight, as a composites collection records them (``attrs["composite"]["kinds"]``).
    """
    total = sum(weights.values())
    return ", ".join(f"{name} {weight / total:.0%}" for name, weight in sorted(weights.items()))


@dataclass(frozen=True)
class Composite:
    """One generated patch: inputs, target, where it came from and what was drawn."""

    s1: np.ndarray  # (2, size, size) float32 dB, the fill value where the background has no SAR
    s2_cloudy: np.ndarray  # (13, size, size) uint16 DN
    s2: np.ndarray  # (13, size, size) uint16 DN, the real background
    geo: GeoReference
    kind: str


#: Every this many composites, one is for validation (checkpoint selection); the rest train.
VALIDATION_EVERY = 10


def composite_split(index: int) -> str:
    """The split of composite ``index``: "val" for every ``VALIDATION_EVERY``-th, else "train".

    Not by scene: the shared folder's clear ground is mostly sea, snow and dark forest, and its few
    land scenes are needed for training. The test bench, not validation, is where scenes never
    seen are judged.
    """
    return "val" if index % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"


#: SatelliteCloudGenerator and the pieces of kornia it imports, pinned as in constraints.txt. Installed
#: without their declared dependencies: it declares torchvision, which pulls a second multi-GB torch.
CLOUD_GENERATOR_PACKAGES = ("satellite-cloud-generator==0.4", "kornia==0.9.0", "kornia_rs==0.2.0", "imageio==2.38.1")
CLOUD_GENERATOR_INSTALL = "pip install --no-deps " + " ".join(CLOUD_GENERATOR_PACKAGES)


def cloud_generator_installed() -> bool:
    """Whether SatelliteCloudGenerator can be imported (it is an optional feature: composites)."""
    import importlib.util

    return importlib.util.find_spec("satellite_cloud_generator") is not None


def require_cloud_generator() -> None:
    """Refuse, saying exactly what to install, when composites cannot be made here."""
    if not cloud_generator_installed():
        raise UserError(
            "composites need SatelliteCloudGenerator, which is not installed here; install it with: "
            f"{CLOUD_GENERATOR_INSTALL}  (--no-deps: it declares torchvision, which would pull a second torch)"
        )


def _generator(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def make_composite(background: RealPatch, size: int, seed: int, index: int, kind: str | None = None) -> Composite:
    """Composite ``index`` of ``seed``: a random ``size`` crop of ``background`` under one cloud kind.

    The kind is drawn by weight unless ``kind`` names one of :data:`CLOUD_KINDS`.
    """
    import satellite_cloud_generator as scg

    rng = _generator(seed, index)
    clear = read_raster(background.s2, "s2")
    _, height, width = clear.data.shape
    if size > min(height, width):
        raise UserError(f"{background.s2}: {height}x{width} px background is smaller than the {size}-px composites")
    row, col = (int(rng.integers(0, extent - size + 1)) for extent in (height, width))
    window = (slice(None), slice(row, row + size), slice(col, col + size))
    s2 = clear.data[window]
    if background.s1 is not None:
        s1 = read_raster(background.s1, "s1").data[window].astype(np.float32)
    else:
        s1 = np.full((len(PRODUCTS["s1"].bands), size, size), PRODUCTS["s1"].fill, dtype=np.float32)
    names = sorted(CLOUD_KINDS)
    weights = np.array([CLOUD_KINDS[n].weight for n in names])
    drawn = names[int(rng.choice(len(names), p=weights / weights.sum()))]  # drawn always: the sequence stays put
    kind_name = kind or drawn
    if kind_name not in CLOUD_KINDS:
        raise UserError(f"cloud kind {kind_name!r} is not one of {names}")
    settings = CLOUD_KINDS[kind_name]
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))  # the generator draws from torch's global generator
    a, b, c, d, e, f = clear.geo.transform
    geo = GeoReference(clear.geo.crs, (a, b, c + col * a + row * b, d, e, f + col * d + row * e))
    if not settings.settings:  # a clear sample: the target itself
        return Composite(s1, s2.copy(), s2, geo, kind_name)
    reflectance = torch.from_numpy(s2.astype(np.float32) / OPTICAL_DN_MAX)[None]
    magnitude = torch.tensor(settings.reflectance, dtype=torch.float32)[None, :, None, None]
    add = scg.add_cloud_and_shadow if settings.shadow else scg.add_cloud
    cloudy, *_ = add(reflectance, **settings.settings, channel_magnitude=magnitude, cloud_color=False,
                     const_scale=True, return_cloud=True)  # fmt: skip
    cloudy_dn = np.clip(np.rint(cloudy[0].numpy() * OPTICAL_DN_MAX), 0, OPTICAL_DN_STORABLE_MAX)
    return Composite(s1, cloudy_dn.astype(np.uint16), s2, geo, kind_name)


def measure_cloud_reflectance(images: Sequence[Path]) -> dict[str, np.ndarray]:
    """Median reflectance per band of real thick (s2cloudless > 0.9) and thin (0.4-0.6) cloud pixels in ``images``."""
    thick, thin = [], []
    for path in images:
        dn = read_raster(path, "s2_cloudy").data
        probability = detect_clouds(dn).probability[0].ravel()
        reflectance = dn.reshape(dn.shape[0], -1).astype(np.float64) / OPTICAL_DN_MAX
        thick.append(reflectance[:, probability > 0.9])
        thin.append(reflectance[:, (probability > 0.4) & (probability < 0.6)])
    return {"thick": np.median(np.concatenate(thick, axis=1), axis=1),
            "thin": np.median(np.concatenate(thin, axis=1), axis=1)}  # fmt: skip
