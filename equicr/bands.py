"""Sensor facts as data: band names and order, the images of a triplet, and the network's input layouts.

Everything that depends on band order, pixel type or fill value (readers, collections, scaling,
the model's long skip, ONNX metadata, plots) takes it from here, so each fact is stated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from equicr.errors import UserError

#: Sentinel-2 Level-1C bands in SEN12MS-CR file order; values are digital numbers (reflectance x 10000).
S2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07",
    "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
#: Native ground sampling distance of each Sentinel-2 band, in metres (L1C products store each at it).
S2_NATIVE_RESOLUTION_M: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip
#: Central wavelength of each Sentinel-2 band (Sentinel-2A), in nanometres.
S2_WAVELENGTH_NM: dict[str, int] = {
    "B01": 443, "B02": 490, "B03": 560, "B04": 665, "B05": 705, "B06": 740, "B07": 783,
    "B08": 842, "B8A": 865, "B09": 945, "B10": 1375, "B11": 1610, "B12": 2190,
}  # fmt: skip
#: Sentinel-2 bands shown as red, green, blue in true-colour images.
S2_RGB_BANDS: tuple[str, ...] = ("B04", "B03", "B02")
#: Sentinel-1 GRD polarisations in SEN12MS-CR file order; values are backscatter in dB.
S1_BANDS: tuple[str, ...] = ("VV", "VH")
#: SEN12MS-CR patches (the training and evaluation unit) are this many pixels square, at 10 m.
PATCH_SIZE = 256


@dataclass(frozen=True)
class Product:
    """What one image of a triplet holds: band names in order, pixel type, fill value, Zarr band dimension."""

    bands: tuple[str, ...]
    dtype: np.dtype
    fill: float
    band_dimension: str  # S1 and S2 differ so that xarray can open both arrays in one dataset


#: The three images of a triplet (in the order they are read): SAR, cloudy optical, cloud-free optical.
#: Fill values are the dataset's: SAR 0.0 dB, optical DN 0 (see :mod:`equicr.scaling` for the policy).
PRODUCTS: dict[str, Product] = {
    "s1": Product(S1_BANDS, np.dtype(np.float32), 0.0, "s1_band"),
    "s2_cloudy": Product(S2_BANDS, np.dtype(np.uint16), 0, "s2_band"),
    "s2": Product(S2_BANDS, np.dtype(np.uint16), 0, "s2_band"),
}
TRIPLET: tuple[str, ...] = tuple(PRODUCTS)

InputMode = Literal["sar+opt", "opt", "sar"]
#: The paper's input modes (Table I) and their network input channels, in channel order. Optical
#: bands come first, then SAR, as in DSen2-CR, so the long skip takes the first ``len(S2_BANDS)``
#: channels whenever the mode has optical input.
INPUT_MODE_BANDS: dict[InputMode, tuple[str, ...]] = {
    "sar+opt": S2_BANDS + S1_BANDS,
    "opt": S2_BANDS,
    "sar": S1_BANDS,
}
INPUT_MODES: tuple[InputMode, ...] = tuple(INPUT_MODE_BANDS)


def input_bands(mode: InputMode) -> tuple[str, ...]:
    """Names of the network's input channels for an input mode, in channel order."""
    if mode not in INPUT_MODE_BANDS:
        raise UserError(f"unknown input mode {mode!r}; expected one of {INPUT_MODES}")
    return INPUT_MODE_BANDS[mode]


def has_optical_input(mode: InputMode) -> bool:
    """Whether the mode feeds the cloudy optical image (and so has the long skip)."""
    return S2_BANDS[0] in input_bands(mode)


def has_sar_input(mode: InputMode) -> bool:
    """Whether the mode feeds the SAR image."""
    return S1_BANDS[0] in input_bands(mode)


def optical_channels(mode: InputMode) -> slice:
    """Where the cloudy optical bands sit among a mode's input channels (an empty slice when absent)."""
    return slice(0, len(S2_BANDS)) if has_optical_input(mode) else slice(0, 0)


def sar_channels(mode: InputMode) -> slice:
    """Where the SAR bands sit among a mode's input channels (an empty slice when absent)."""
    bands = input_bands(mode)
    return slice(len(bands) - len(S1_BANDS), len(bands)) if has_sar_input(mode) else slice(0, 0)


def band_indices(names: tuple[str, ...], of: tuple[str, ...] = S2_BANDS) -> list[int]:
    """Positions of band ``names`` within the band tuple ``of``; names a missing band."""
    missing = [name for name in names if name not in of]
    if missing:
        raise UserError(f"bands {missing} are not among {of}")
    return [of.index(name) for name in names]
