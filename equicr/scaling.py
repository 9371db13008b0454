"""Conversions between sensor units and the network's units (DSen2-CR's scaling).

Sensor units: Sentinel-2 L1C digital numbers (reflectance x 10000, uint16) and Sentinel-1
backscatter in dB (float32). Network units: optical DN clipped to [0, 10000] and divided by 2000,
SAR clipped per band to its dB range and mapped linearly onto [0, 2]. Metric units: optical
reflectance clipped to [0, 1].

No-data policy, the one policy of ingest, declouding, evaluation and the ONNX runtime:
- SAR: a value of exactly 0.0 dB is SEN12MS-CR's fill value, and NaN or an infinite value means
  no measurement (backscatter in dB is finite). All are set to the band's lowest backscatter
  (network value 0: "no return"), the least informative value, and :func:`sar_nodata_mask` reports
  where that happened. Some no-data pixels are normal (swath edges) and never stop a scene.
- Optical: DN 0 is fill; it stays 0 (network value 0), and nothing measured or predicted is ever
  stored as 0: a measured or declouded pixel is at least :data:`OPTICAL_MEASURED_MIN_DN` (ingest
  clamps harmonised DN there, :func:`network_to_optical_dn` clips predictions there), so a dark
  prediction never becomes a hole in the output. Sentinel-2 L1C reserves DN 0 for no-data
  in each band, so a pixel with any band at 0 lies outside the swath or a resampled band's
  footprint. NaN cannot occur in DN (integers), so a float optical array with NaN is refused: it
  means the data was corrupted upstream, and silently filling it would hide that.
- Two words, one meaning each, for both sensors: a pixel is **valid** where every band holds a
  measurement (:func:`optical_valid_mask`, :func:`sar_valid_mask`, stored per image in scenes),
  and **no-data** everywhere else (:func:`optical_nodata_mask`, :func:`sar_nodata_mask`): no
  pixel is neither. Declouding writes the output's nodata (DN 0) wherever an input the model
  reads is not valid, and declouds the rest.
- SAR units are measured, not assumed, the same way on every path (GeoTIFF and STAC):
  :func:`measure_sar_units` tells calibrated backscatter in dB (median far below 0 dB) from linear
  power (positive, median below 1), and :func:`sar_in_db` converts linear power; an image that is
  neither (amplitude DN, a median near 0 dB) is refused rather than clipped into nonsense.
- An image that is no-data everywhere carries nothing: :func:`nodata_problem` says so, and ingest
  refuses such an item by name instead of storing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from equicr.bands import PRODUCTS, S1_BANDS, S2_BANDS, has_optical_input, has_sar_input
from equicr.errors import UserError

if TYPE_CHECKING:
    import torch

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, "torch.Tensor")

#: Largest valid optical digital number: reflectance 1.0.
OPTICAL_DN_MAX = 10000.0
#: Smallest DN a measured or predicted optical pixel is stored as: DN 0 is reserved for no-data.
OPTICAL_MEASURED_MIN_DN = 1
#: Largest DN a stored optical image can hold (the products' uint16), above the reflectance range.
OPTICAL_DN_STORABLE_MAX = int(np.iinfo(PRODUCTS["s2"].dtype).max)
#: Optical network units are DN / 2000 (so reflectance 1.0 maps to 5.0).
OPTICAL_NETWORK_DIVISOR = 2000.0
#: Backscatter range kept per SAR band, in dB (lower, upper); values outside are clipped.
SAR_DB_RANGE: dict[str, tuple[float, float]] = {"VV": (-25.0, 0.0), "VH": (-32.5, 0.0)}
#: SAR network units span [0, SAR_NETWORK_SPAN].
SAR_NETWORK_SPAN = 2.0
#: A calibrated backscatter image in dB has its median of valid values below this (land about -12, water -20).
SAR_DB_MEDIAN_BELOW = -3.0
#: Linear power is positive with its median of valid values below this (-3 dB is 0.5).
SAR_LINEAR_MEDIAN_BELOW = 1.0
#: Units a SAR image can arrive in.
SarUnits = Literal["dB", "linear"]
#: SEN12MS-CR's SAR fill value, in dB.
SAR_FILL_DB = PRODUCTS["s1"].fill
#: Sentinel-2 DN fill value.
OPTICAL_FILL_DN = PRODUCTS["s2"].fill


def _sar_bounds() -> tuple[np.ndarray, np.ndarray]:
    lower = np.array([SAR_DB_RANGE[b][0] for b in S1_BANDS], dtype=np.float32)[:, None, None]
    upper = np.array([SAR_DB_RANGE[b][1] for b in S1_BANDS], dtype=np.float32)[:, None, None]
    return lower, upper


def _check_bands(array: np.ndarray, bands: tuple[str, ...], what: str) -> None:
    if array.ndim < 3 or array.shape[-3] != len(bands):
        raise UserError(
            f"{what} must have shape (..., {len(bands)}, H, W) with bands {bands}; got shape {tuple(array.shape)}"
        )


def optical_nodata_mask(dn: np.ndarray) -> np.ndarray:
    """True where any Sentinel-2 band holds the fill DN (the pixel is not valid), shape (..., H, W)."""
    return ~optical_valid_mask(dn)


def sar_nodata_mask(db: np.ndarray) -> np.ndarray:
    """True where any SAR band is NaN, infinite or exactly the fill value (not valid), shape (..., H, W)."""
    _check_bands(db, S1_BANDS, "SAR dB")
    return np.any(_sar_nodata(db), axis=-3)


def optical_valid_mask(dn: np.ndarray) -> np.ndarray:
    """True where every Sentinel-2 band holds a measurement (no band at the fill DN), shape (..., H, W)."""
    _check_bands(dn, S2_BANDS, "optical DN")
    return np.all(dn != OPTICAL_FILL_DN, axis=-3)


def sar_valid_mask(db: np.ndarray) -> np.ndarray:
    """True where every SAR band holds a finite backscatter other than the fill value, shape (..., H, W)."""
    return ~sar_nodata_mask(db)


def valid_input_mask(s1_db: np.ndarray | None, s2_dn: np.ndarray | None, input_mode: str) -> np.ndarray:
    """Where every image ``input_mode`` reads holds a measurement, shape (..., H, W): outputs are nodata elsewhere."""
    masks = []
    if has_optical_input(input_mode):
        masks.append(optical_valid_mask(s2_dn))
    if has_sar_input(input_mode):
        masks.append(sar_valid_mask(s1_db))
    return np.logical_and.reduce(masks)


def _sar_nodata(db: np.ndarray) -> np.ndarray:
    return ~np.isfinite(db) | (db == SAR_FILL_DB)


def nodata_problem(
    s1_db: np.ndarray | None = None, s2_dn: np.ndarray | None = None, s2_clear_dn: np.ndarray | None = None
) -> str | None:
    """Why images cannot be used at all under the no-data policy (no valid pixel anywhere), or None."""
    if s1_db is not None and sar_nodata_mask(s1_db).all():
        return "the Sentinel-1 image holds no valid backscatter (every pixel NaN, infinite or the fill value)"
    if s2_dn is not None and optical_nodata_mask(s2_dn).all():
        return "the cloudy Sentinel-2 image holds no valid pixel (every pixel is fill, DN 0)"
    if s2_clear_dn is not None and optical_nodata_mask(s2_clear_dn).all():
        return "the cloud-free Sentinel-2 target holds no valid pixel (every pixel is fill, DN 0): nothing to learn"
    return None


def optical_dn_to_network(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 DN of shape (..., 13, H, W) to float32 network units in [0, 5]."""
    _check_bands(dn, S2_BANDS, "optical DN")
    if np.issubdtype(dn.dtype, np.floating) and np.isnan(dn).any():
        raise UserError("optical DN contain NaN; Sentinel-2 DN are integers, so this input is corrupt")
    return (np.clip(dn.astype(np.float32), 0.0, OPTICAL_DN_MAX) / OPTICAL_NETWORK_DIVISOR).astype(np.float32)


def network_to_optical_dn(x: np.ndarray) -> np.ndarray:
    """Network units of shape (..., 13, H, W) back to uint16 DN, rounded and clipped to [1, 10000].

    The lower bound is :data:`OPTICAL_MEASURED_MIN_DN`, not 0: a prediction is a measurement, and
    DN 0 would mark it no-data.
    """
    _check_bands(x, S2_BANDS, "optical network values")
    dn = np.rint(np.asarray(x, dtype=np.float32) * OPTICAL_NETWORK_DIVISOR)
    return np.clip(dn, OPTICAL_MEASURED_MIN_DN, OPTICAL_DN_MAX).astype(np.uint16)


def predicted_optical_dn(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A prediction in network units (..., 13, H, W) as stored DN: at least 1 where ``valid``, the fill DN elsewhere."""
    return np.where(valid[..., None, :, :], network_to_optical_dn(x), OPTICAL_FILL_DN).astype(np.uint16)


def measure_sar_units(values: np.ndarray, where: str) -> SarUnits | None:
    """Whether a SAR image holds dB or linear power, from the median of its valid values; None if it has none.

    Raises:
        UserError: the values are neither (naming ``where`` and the median), e.g. uncalibrated amplitude.
    """
    measured = np.asarray(values, dtype=np.float32)
    measured = measured[np.isfinite(measured) & (measured != SAR_FILL_DB)]
    if measured.size == 0:
        return None
    median = float(np.median(measured))
    if median < SAR_DB_MEDIAN_BELOW:
        return "dB"
    if 0.0 < median < SAR_LINEAR_MEDIAN_BELOW and (measured > 0).mean() > 0.99:
        return "linear"
    raise UserError(
        f"{where}: cannot tell the units of the Sentinel-1 values (median {median:.3g}): calibrated backscatter "
        f"in dB has a median below {SAR_DB_MEDIAN_BELOW:g} dB, linear power is positive with a median below "
        f"{SAR_LINEAR_MEDIAN_BELOW:g}; provide calibrated, terrain-corrected backscatter (e.g. sigma0 or gamma0)"
    )


def sar_in_db(values: np.ndarray, units: SarUnits | None) -> np.ndarray:
    """SAR values in ``units`` as float32 dB; linear power at or below 0 (no return, or fill) becomes NaN."""
    values = np.asarray(values, dtype=np.float32)
    if units != "linear":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, 10 * np.log10(values), np.nan).astype(np.float32)


def sar_db_to_network(db: np.ndarray) -> np.ndarray:
    """Sentinel-1 dB of shape (..., 2, H, W) to float32 network units in [0, 2]; no-data maps to 0."""
    _check_bands(db, S1_BANDS, "SAR dB")
    lower, upper = _sar_bounds()
    db = np.asarray(db, dtype=np.float32)
    nodata = _sar_nodata(db)
    clipped = np.clip(np.where(nodata, lower, db), lower, upper)
    return ((clipped - lower) / (upper - lower) * SAR_NETWORK_SPAN).astype(np.float32)


def network_to_sar_db(x: np.ndarray) -> np.ndarray:
    """SAR network units of shape (..., 2, H, W) back to dB within each band's range."""
    _check_bands(x, S1_BANDS, "SAR network values")
    lower, upper = _sar_bounds()
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, SAR_NETWORK_SPAN)
    return (x / SAR_NETWORK_SPAN * (upper - lower) + lower).astype(np.float32)


def optical_dn_to_reflectance(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 DN to float32 reflectance clipped to [0, 1]: the units metrics are computed in."""
    return (np.clip(np.asarray(dn, dtype=np.float32), 0.0, OPTICAL_DN_MAX) / OPTICAL_DN_MAX).astype(np.float32)


def network_to_reflectance(x: ArrayOrTensor) -> ArrayOrTensor:
    """Optical network units to reflectance clipped to [0, 1], for a numpy array or torch tensor.

    Works on tensors so that training computes metrics on model outputs without a copy.
    """
    return (x * (OPTICAL_NETWORK_DIVISOR / OPTICAL_DN_MAX)).clip(0.0, 1.0)


def network_inputs(s1_db: np.ndarray | None, s2_cloudy_dn: np.ndarray | None, input_mode: str) -> np.ndarray:
    """The network input of ``input_mode`` from sensor images, (..., C, H, W) float32.

    Channels follow :func:`equicr.bands.input_bands`: cloudy optical first, then SAR. The image a
    mode does not use may be None; a missing image the mode needs is refused by name.
    """
    parts = []
    if has_optical_input(input_mode):
        if s2_cloudy_dn is None:
            raise UserError(f"input mode {input_mode!r} needs the cloudy Sentinel-2 image (bands {S2_BANDS})")
        parts.append(optical_dn_to_network(s2_cloudy_dn))
    if has_sar_input(input_mode):
        if s1_db is None:
            raise UserError(f"input mode {input_mode!r} needs the Sentinel-1 image (bands {S1_BANDS})")
        parts.append(sar_db_to_network(s1_db))
    return np.concatenate(parts, axis=-3)
