"""Reading Sentinel-1 and Sentinel-2 GeoTIFFs with rasterio, checked against the band metadata.

Every error names the file and what is wrong with it (band count, data type or size), so a bad
file in a tree of thousands can be found.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from equicr.bands import PRODUCTS
from equicr.errors import UserError
from equicr.scaling import SarUnits, measure_sar_units, sar_in_db


class RasterError(UserError):
    """A raster file does not hold what its role requires."""


@dataclass(frozen=True)
class GeoReference:
    """Where a raster lies: its CRS (WKT or EPSG string, None when unknown) and affine transform."""

    crs: str | None
    transform: tuple[float, float, float, float, float, float]  # rasterio Affine a, b, c, d, e, f

    @property
    def is_georeferenced(self) -> bool:
        """Whether the raster has a CRS (files without one carry the identity transform)."""
        return self.crs is not None


@dataclass(frozen=True)
class Raster:
    """Pixel values (bands, H, W) of one file and its georeference."""

    path: Path
    data: np.ndarray
    geo: GeoReference


#: A SAR file's units are measured on a grid of this many by this many windows of full-resolution
#: pixels spread over the file (overviews would not do: their resampling makes linear power negative).
UNITS_SAMPLE_GRID, UNITS_SAMPLE_PX = 4, 128


def sample_windows(height: int, width: int) -> list[Window]:
    """Full-resolution windows spread evenly over a ``height`` x ``width`` raster, for measuring its values."""
    size_y, size_x = min(height, UNITS_SAMPLE_PX), min(width, UNITS_SAMPLE_PX)
    tops = sorted({round(i * (height - size_y) / max(UNITS_SAMPLE_GRID - 1, 1)) for i in range(UNITS_SAMPLE_GRID)})
    lefts = sorted({round(i * (width - size_x) / max(UNITS_SAMPLE_GRID - 1, 1)) for i in range(UNITS_SAMPLE_GRID)})
    return [Window(left, top, size_x, size_y) for top in tops for left in lefts]


@dataclass(frozen=True)
class OpenRaster:
    """An open, checked GeoTIFF for windowed reads; Sentinel-1 comes back in dB whatever units the file holds."""

    dataset: rasterio.DatasetReader
    geo: GeoReference
    sar_units: SarUnits | None = None  # measured for role "s1"; None for optical files

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width in pixels."""
        return self.dataset.shape

    def read(self, window: Window | None = None) -> np.ndarray:
        """All bands of ``window`` (the whole file without one); SAR in dB."""
        data = self.dataset.read(window=window)
        return sar_in_db(data, self.sar_units) if self.sar_units is not None else data


@contextmanager
def open_raster(path: str | Path, role: str, size: tuple[int, int] | None = None) -> Iterator[OpenRaster]:
    """Open a GeoTIFF as ``role`` ("s1", "s2" or "s2_cloudy"), checked, for windowed reads.

    For ``"s1"`` the units are measured on windows spread over the file (:func:`equicr.scaling.measure_sar_units`):
    dB is read as it is, linear power is converted to dB, anything else is refused by name.

    Raises:
        FileNotFoundError: the file does not exist.
        RasterError: wrong band count, data type or size, or rasterio cannot read it.
        UserError: a Sentinel-1 file in units that are neither dB nor linear power.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{role} file {path} does not exist")
    try:
        with warnings.catch_warnings():
            # Files without a CRS are allowed (their GeoReference says so); rasterio warns about each.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as dataset:
                _check_layout(dataset, path, role, size)
                crs = dataset.crs.to_string() if dataset.crs else None
                units = _measured_units(dataset, path) if role == "s1" else None
                yield OpenRaster(dataset, GeoReference(crs, tuple(dataset.transform)[:6]), units)
    except rasterio.RasterioIOError as error:
        raise RasterError(f"{path}: cannot read {role} raster: {error}") from error


def read_raster(path: str | Path, role: str, size: tuple[int, int] | None = None) -> Raster:
    """Read a whole GeoTIFF as ``role``, checked as :func:`open_raster` checks it."""
    with open_raster(path, role, size) as raster:
        return Raster(Path(path), raster.read(), raster.geo)


def _measured_units(dataset: rasterio.DatasetReader, path: Path) -> SarUnits | None:
    windows = sample_windows(dataset.height, dataset.width)
    reads = [dataset.read(window=w, masked=True).filled(np.nan).reshape(dataset.count, -1) for w in windows]
    sample = np.concatenate(reads, axis=1)  # the file's own nodata value is no measurement
    try:
        return measure_sar_units(sample, str(path))
    except UserError as error:
        raise RasterError(str(error)) from error


def _check_layout(dataset: rasterio.DatasetReader, path: Path, role: str, size: tuple[int, int] | None) -> None:
    """Refuse an open raster whose band count, data type or size does not fit ``role``."""
    bands, dtype = PRODUCTS[role].bands, PRODUCTS[role].dtype
    if dataset.count != len(bands):
        raise RasterError(f"{path}: {role} needs {len(bands)} bands {bands}, the file has {dataset.count}")
    if np.dtype(dataset.dtypes[0]) != dtype:
        raise RasterError(f"{path}: {role} needs data type {dtype}, the file has {dataset.dtypes[0]}")
    if size is not None and dataset.shape != tuple(size):
        height, width = dataset.shape
        raise RasterError(f"{path}: {role} needs {size[0]}x{size[1]} px, the file is {height}x{width}")
