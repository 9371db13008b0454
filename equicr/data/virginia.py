"""The real Sentinel-2 L1C product crop of Virginia's Eastern Shore: 13 bands on the 10 m grid, split by area.

The shared data folder's ``s2-l1c-virginia`` holds one band per file at its native resolution
(10, 20 and 60 m), clear, mostly farmland and villages in the west and sea in the east. It is
real land that none of the other real patches show, so it serves twice, by area: the north
(:data:`TRAINING_ROWS`) is training ground, the south (:data:`UNSEEN_ROWS`) is ground the model
never sees, for the do-no-harm test; the two are :data:`GAP_ROWS` apart, so no patch of one
touches the other (:func:`check_apart`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equicr.bands import S2_BANDS
from equicr.errors import UserError

VIRGINIA_DIR = "s2-l1c-virginia"
FILE_PATTERN = "T18SVG_20160112_{band}.tif"
#: Rows of the 10 m grid (1947 x 1933 px) for training, and for the unseen do-no-harm ground.
TRAINING_ROWS, UNSEEN_ROWS = (0, 960), (1024, 1947)
GAP_ROWS = UNSEEN_ROWS[0] - TRAINING_ROWS[1]
#: The scene name of the training area's backgrounds (the unseen area is never a background).
TRAINING_SCENE, UNSEEN_SCENE = "virginia-T18SVG-training", "virginia-T18SVG-unseen"
#: A patch counts as land when this share of its pixels has NIR (B08) above LAND_NIR_DN (water is dark in NIR).
MIN_LAND_SHARE, LAND_NIR_DN = 0.5, 1000


@dataclass(frozen=True)
class VirginiaPatch:
    """One patch of the product: its name, where it lies on the 10 m grid, and its 13-band DN."""

    name: str
    row: int
    col: int
    dn: np.ndarray


def virginia_bands(root: Path) -> np.ndarray:
    """All 13 bands on the 10 m grid (uint16 DN): 20 m and 60 m bands resampled bilinearly, each from its own grid."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    folder = Path(root) / VIRGINIA_DIR
    if not folder.is_dir():
        raise UserError(f"{folder}: no Virginia product here (the shared data folder's {VIRGINIA_DIR}/)")
    with rasterio.open(folder / FILE_PATTERN.format(band="B02")) as grid:
        shape, transform, crs = grid.shape, grid.transform, grid.crs
    bands = np.zeros((len(S2_BANDS), *shape), np.uint16)
    for index, band in enumerate(S2_BANDS):
        with rasterio.open(folder / FILE_PATTERN.format(band=band)) as source:
            if source.shape == shape and source.transform == transform:
                bands[index] = source.read(1)
                continue
            values = np.zeros(shape, np.float32)
            reproject(source.read(1).astype(np.float32), values, src_transform=source.transform, src_crs=source.crs,
                      dst_transform=transform, dst_crs=crs, resampling=Resampling.bilinear)  # fmt: skip
            bands[index] = np.rint(values)
    return bands


def virginia_patches(root: Path, area: str, size: int = 256, step: int | None = None) -> list[VirginiaPatch]:
    """The land patches of ``area`` ("training" or "unseen"), ``size`` px every ``step`` px (default: ``size``)."""
    rows = {"training": TRAINING_ROWS, "unseen": UNSEEN_ROWS}.get(area)
    if rows is None:
        raise UserError(f"area must be 'training' or 'unseen', not {area!r}")
    bands = virginia_bands(root)
    step = step or size
    nir = bands[S2_BANDS.index("B08")]
    patches = []
    for row in range(rows[0], rows[1] - size + 1, step):
        for col in range(0, bands.shape[2] - size + 1, step):
            window = (slice(row, row + size), slice(col, col + size))
            if (nir[window] > LAND_NIR_DN).mean() >= MIN_LAND_SHARE and (bands[(slice(None), *window)] > 0).all():
                patches.append(VirginiaPatch(f"virginia_{area}_r{row}_c{col}", row, col, bands[(slice(None), *window)]))
    return patches


def check_apart(training: list[VirginiaPatch], unseen: list[VirginiaPatch]) -> None:
    """UserError if a training patch and an unseen patch share or touch a row of the product."""
    last_training = max((p.row + p.dn.shape[1] for p in training), default=0)
    first_unseen = min((p.row for p in unseen), default=last_training + 1)
    if last_training > first_unseen - 1:
        raise UserError(
            f"Virginia training patches reach row {last_training} but unseen ones start at row {first_unseen}"
        )


def virginia_geotiffs(root: Path, folder: Path, area: str = "training", size: int = 256) -> list:
    """The land patches of ``area`` as clear :class:`equicr.data.real.RealPatch` es, written once as 13-band GeoTIFFs.

    Training patches are backgrounds for composites (scene :data:`TRAINING_SCENE`); unseen ones are
    the test bench's clear land (each patch its own target). A file already under ``folder`` is reused.
    """
    import rasterio

    from equicr.data.real import RealPatch

    with rasterio.open(Path(root) / VIRGINIA_DIR / FILE_PATTERN.format(band="B02")) as grid:
        transform, crs = grid.transform, grid.crs
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    patches = []
    for patch in virginia_patches(root, area, size):
        path = folder / f"{patch.name}.tif"
        if not path.is_file():
            partial = path.with_suffix(".partial.tif")
            where = transform @ rasterio.Affine.translation(patch.col, patch.row)
            profile = {"driver": "GTiff", "width": size, "height": size, "count": len(S2_BANDS), "dtype": "uint16",
                       "crs": crs, "transform": where}  # fmt: skip
            with rasterio.open(partial, "w", **profile) as out:
                out.write(patch.dn)
            partial.replace(path)  # a file there is whole
        scene = TRAINING_SCENE if area == "training" else f"{UNSEEN_SCENE}/{patch.name}"
        patches.append(RealPatch(patch.name, scene, path, s2_cloudy=None if area == "training" else path))
    return patches
