"""Band metadata of the sensors EquiCR reads: names, order and the network's input layouts.

Everything that depends on band order (readers, scaling, the model's long skip, ONNX metadata)
takes it from here, so the order is stated exactly once.
"""

from __future__ import annotations

from typing import Literal

#: Sentinel-2 Level-1C bands in SEN12MS-CR file order; values are digital numbers (reflectance x 10000).
S2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07",
    "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
#: Sentinel-2 bands shown as red, green, blue in true-colour images.
S2_RGB_BANDS: tuple[str, ...] = ("B04", "B03", "B02")
#: Sentinel-1 GRD polarisations in SEN12MS-CR file order; values are backscatter in dB.
S1_BANDS: tuple[str, ...] = ("VV", "VH")

InputMode = Literal["sar+opt", "opt", "sar"]
#: The paper's input modes (Table I): SAR plus cloudy optical, cloudy optical only, SAR only.
INPUT_MODES: tuple[InputMode, ...] = ("sar+opt", "opt", "sar")


def input_bands(mode: InputMode) -> tuple[str, ...]:
    """Names of the network's input channels for an input mode, in channel order.

    Optical bands come first, then SAR, as in DSen2-CR, so the long skip takes the first
    ``len(S2_BANDS)`` channels whenever the mode has optical input.
    """
    if mode == "sar+opt":
        return S2_BANDS + S1_BANDS
    if mode == "opt":
        return S2_BANDS
    if mode == "sar":
        return S1_BANDS
    raise ValueError(f"unknown input mode {mode!r}; expected one of {INPUT_MODES}")


def has_optical_input(mode: InputMode) -> bool:
    """Whether the mode feeds the cloudy optical image (and so has the long skip)."""
    return mode in ("sar+opt", "opt")


def band_indices(names: tuple[str, ...], of: tuple[str, ...] = S2_BANDS) -> list[int]:
    """Positions of band ``names`` within the band tuple ``of``; names a missing band."""
    missing = [name for name in names if name not in of]
    if missing:
        raise ValueError(f"bands {missing} are not among {of}")
    return [of.index(name) for name in names]
