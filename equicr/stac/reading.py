"""Reading Sentinel assets window by window onto a scene's 10 m grid, with rasterio's WarpedVRT.

A window of the S2 item's 10 m grid (one scene chunk) is read from every band asset: assets on
that very grid are read as they are (exact), the 20 m and 60 m bands and Sentinel-1 (any CRS, any
grid) through a ``WarpedVRT`` that resamples bilinearly onto it, so only the window's own pixels
are read and warped and memory does not grow with the scene. Source no-data (DN 0 or the asset's
nodata) comes out as DN 0 and NaN, which the scene's valid-pixel masks then record.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
import rasterio
import rasterio.errors
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from equicr.bands import S1_BANDS, S2_BANDS
from equicr.data.rasters import GeoReference, sample_windows
from equicr.errors import UserError
from equicr.scaling import OPTICAL_DN_STORABLE_MAX, OPTICAL_MEASURED_MIN_DN, SarUnits, measure_sar_units, sar_in_db
from equicr.stac.access import requester_pays, signed
from equicr.stac.items import GRID_BAND, S1Source, S2Source, StacItemError, s1_remedy

#: How bands coarser than 10 m and Sentinel-1 are brought onto the 10 m grid.
RESAMPLING = Resampling.bilinear


@dataclass(frozen=True)
class Grid:
    """A scene's pixel grid: the S2 item's 10 m band grid."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    height: int
    width: int

    @property
    def geo(self) -> GeoReference:
        """The grid's CRS and transform as the collection stores them."""
        return GeoReference(self.crs, self.transform)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return rasterio.transform.array_bounds(self.height, self.width, rasterio.Affine(*self.transform))[:4]


@contextmanager
def gdal_environment():
    """GDAL settings for ``s3://`` assets, from the same ``AWS_*`` variables as s3fs and boto3 (requester-pays too)."""
    options = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    if requester_pays():
        options["AWS_REQUEST_PAYER"] = "requester"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        options |= {"AWS_S3_ENDPOINT": parsed.netloc, "AWS_HTTPS": "YES" if parsed.scheme == "https" else "NO",
                    "AWS_VIRTUAL_HOSTING": "FALSE"}  # fmt: skip
    with rasterio.Env(**options):
        yield


def _open(item_id: str, band: str, href: str, signing: str | None = None) -> rasterio.DatasetReader:
    try:
        return rasterio.open(signed(href, signing))
    except rasterio.RasterioIOError as error:
        raise StacItemError(f"item {item_id}, asset {band} ({href}): cannot be read ({error})") from error


def scene_grid(s2: S2Source) -> Grid:
    """The 10 m grid of an S2 item: that of its B02 asset."""
    with gdal_environment(), _open(s2.item_id, GRID_BAND, s2.hrefs[GRID_BAND], s2.signing) as dataset:
        if dataset.crs is None:
            raise StacItemError(f"item {s2.item_id}, asset {GRID_BAND} ({s2.hrefs[GRID_BAND]}): has no CRS")
        return Grid(dataset.crs.to_string(), tuple(dataset.transform)[:6], dataset.height, dataset.width)


def check_assets(s2: S2Source, s1: S1Source | None, grid: Grid) -> S1Source | None:
    """Open every asset once and refuse, by item and asset, what cannot be ingested; return S1 with its units.

    Refused: an unreadable asset, one without CRS, more than one band, S2 that is not integer DN,
    S1 in radar geometry (ground control points, no map grid: GRD as it comes), S1 that is not
    floating point or in units that are neither dB nor linear power (measured on a decimated read as
    for GeoTIFFs, and checked against the units the item declares), and an asset that does not
    overlap the scene. An S1 refusal says what product would do.
    """
    assets = [(s2.item_id, band, href, None, s2.signing) for band, href in s2.hrefs.items()]
    if s1 is not None:
        assets += [(s1.item_id, band, href, s1, s1.signing) for band, href in s1.hrefs.items()]
    measured: dict[str, SarUnits | None] = {}
    with gdal_environment():
        for item_id, band, href, sar, signing in assets:
            with _open(item_id, band, href, signing) as dataset:
                where = f"item {item_id}, asset {band} ({href})"
                if dataset.crs is None and sar is not None and dataset.gcps[0]:
                    raise StacItemError(
                        f"{where}: radar geometry, georeferenced only by {len(dataset.gcps[0])} ground control "
                        f"points; {s1_remedy(sar.product)}"
                    )
                if dataset.crs is None:
                    raise StacItemError(f"{where}: has no CRS, so it cannot be placed on the scene's grid")
                if dataset.count != 1:
                    raise StacItemError(f"{where}: has {dataset.count} bands, expected one band per asset")
                dtype = np.dtype(dataset.dtypes[0])
                if sar is None and not np.issubdtype(dtype, np.integer):
                    raise StacItemError(f"{where}: data type {dtype}; Sentinel-2 L1C assets hold integer DN")
                if sar is not None and not np.issubdtype(dtype, np.floating):
                    raise StacItemError(
                        f"{where}: data type {dtype}, amplitude DN rather than calibrated backscatter (floating "
                        f"point dB or linear power); {s1_remedy(sar.product)}"
                    )
                left, bottom, right, top = transform_bounds(dataset.crs, grid.crs, *dataset.bounds)
                g_left, g_bottom, g_right, g_top = grid.bounds
                if left >= g_right or right <= g_left or bottom >= g_top or top <= g_bottom:
                    raise StacItemError(f"{where}: does not overlap the scene of item {s2.item_id}")
                if sar is not None:
                    measured[band] = _sar_units(dataset, where, sar.nodata.get(band))
    return None if s1 is None else _with_units(s1, measured)


def _sar_units(dataset: rasterio.DatasetReader, where: str, nodata: float | None) -> SarUnits | None:
    """The units of one S1 asset, measured on full-resolution windows spread over it (valid pixels only)."""
    windows = sample_windows(dataset.height, dataset.width)
    values = np.concatenate([dataset.read(1, window=w, masked=True).filled(np.nan).ravel() for w in windows])
    if nodata is not None and dataset.nodata is None:  # declared only in the item's raster:bands
        values[values == nodata] = np.nan
    try:
        return measure_sar_units(values, where)
    except UserError as error:
        raise StacItemError(str(error)) from error


def _with_units(s1: S1Source, measured: dict[str, SarUnits | None]) -> S1Source:
    found = {units for units in measured.values() if units is not None}
    if len(found) > 1:
        raise StacItemError(f"item {s1.item_id}: VV and VH hold different units {measured}")
    units = found.pop() if found else s1.declared_units
    if s1.declared_units is not None and units != s1.declared_units:
        raise StacItemError(
            f"item {s1.item_id}: the assets declare {s1.declared_units} but their values are {units}; "
            "the item's raster:bands unit is wrong"
        )
    return dataclasses.replace(s1, units=units)


def _read_band(
    item_id: str, band: str, href: str, grid: Grid, window: Window, fill: float, signing: str | None = None,
    nodata: float | None = None,
) -> np.ndarray:  # fmt: skip
    """One asset's pixels in ``window`` of ``grid``; a read that fails (a truncated file) is a StacItemError.

    The error names the item, the asset and the window, so that one broken file fails its item
    and the others complete.
    """
    try:
        return _read_band_pixels(item_id, band, href, grid, window, fill, signing, nodata)
    except rasterio.errors.RasterioError as error:
        rows = f"rows {window.row_off}:{window.row_off + window.height}"
        cols = f"cols {window.col_off}:{window.col_off + window.width}"
        raise StacItemError(
            f"item {item_id}, asset {band} ({href}): {rows}, {cols} cannot be read ({error}); the file is damaged "
            "or truncated"
        ) from error


def _read_band_pixels(
    item_id: str, band: str, href: str, grid: Grid, window: Window, fill: float, signing: str | None,
    nodata: float | None,
) -> np.ndarray:  # fmt: skip
    """Directly when the asset is on the grid, else warped onto it; ``nodata`` counts where the file names none."""
    with _open(item_id, band, href, signing) as dataset:
        same_crs = dataset.crs == rasterio.crs.CRS.from_user_input(grid.crs)
        on_grid = same_crs and tuple(dataset.transform)[:6] == grid.transform and dataset.shape == grid.shape
        source_nodata = next((value for value in (dataset.nodata, nodata) if value is not None), fill)
        if on_grid:
            values = dataset.read(1, window=window, masked=True).filled(fill)
            return np.where(values == nodata, fill, values) if dataset.nodata is None and nodata is not None else values
        with WarpedVRT(
            dataset, crs=grid.crs, transform=rasterio.Affine(*grid.transform), width=grid.width, height=grid.height,
            resampling=RESAMPLING, src_nodata=source_nodata, nodata=source_nodata,
        ) as warped:  # fmt: skip
            return warped.read(1, window=window, masked=True).filled(fill)


def read_s2_window(s2: S2Source, grid: Grid, rows: slice, cols: slice) -> np.ndarray:
    """The 13 bands of ``s2`` in a window of ``grid`` as uint16 DN on the pre-2022 scale (offset removed).

    Integer assets of any type are accepted when their values fit uint16; a negative or too large
    value is refused by item, asset and window. No-data is DN 0.
    """
    window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
    bands = np.empty((len(S2_BANDS), window.height, window.width), dtype=np.uint16)
    with gdal_environment():
        for index, band in enumerate(S2_BANDS):
            values = _read_band(s2.item_id, band, s2.hrefs[band], grid, window, 0, s2.signing)
            if values.size and (values.min() < 0 or values.max() > OPTICAL_DN_STORABLE_MAX):
                raise StacItemError(
                    f"item {s2.item_id}, asset {band} ({s2.hrefs[band]}): values {values.min()}..{values.max()} in "
                    f"rows {rows.start}:{rows.stop}, cols {cols.start}:{cols.stop} do not fit "
                    f"DN 0..{OPTICAL_DN_STORABLE_MAX}"
                )
            bands[index] = values
    if s2.offset_dn:
        harmonised = np.maximum(bands.astype(np.int32) - s2.offset_dn, OPTICAL_MEASURED_MIN_DN)
        bands = np.where(bands > 0, harmonised, 0).astype(np.uint16)
    return bands


def read_s1_window(s1: S1Source, grid: Grid, rows: slice, cols: slice) -> np.ndarray:
    """VV and VH of ``s1`` in a window of ``grid`` as float32 dB; no-data (and linear power <= 0) is NaN."""
    window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
    bands = np.empty((len(S1_BANDS), window.height, window.width), dtype=np.float32)
    with gdal_environment():
        for index, band in enumerate(S1_BANDS):
            bands[index] = _read_band(
                s1.item_id, band, s1.hrefs[band], grid, window, np.nan, s1.signing, s1.nodata.get(band)
            )
    return sar_in_db(bands, s1.units)
