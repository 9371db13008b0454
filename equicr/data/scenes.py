"""The ``scenes`` collection: one group per scene under ``scenes/``, any size, written window by window.

Each scene holds ``s1`` and ``s2_cloudy``, their valid-pixel masks ``s1_valid`` and
``s2_cloudy_valid`` (the no-data policy of :mod:`equicr.scaling`), ``x``/``y`` coordinates and a CF
``spatial_ref`` (CRS and transform, also in the scene's attributes, read by rioxarray), a CF
``_FillValue`` on every pixel array (xarray masks it, rioxarray reports it as nodata), the items
it came from in its ``source`` attribute, and ``ingest_done``, one marker per chunk window: ingest
writes and resumes window by window, and a scene counts once its ``complete`` attribute is set.
Scenes are written by :mod:`equicr.ingest.scenes`; decloud jobs write their outputs beside the
inputs (:mod:`equicr.decloud.output`). The schema marker and opening are those of
:mod:`equicr.data.collection`.
"""

from __future__ import annotations

import base64
import struct

import numpy as np
import zarr

from equicr.bands import PRODUCTS
from equicr.data.completion import CompletionMarkers
from equicr.data.rasters import GeoReference

#: Scene pixels are chunked in squares of this size (bands stay in one chunk): the ingest window.
SCENE_CHUNK = 512
#: One chunk window of a scene, as :func:`chunk_windows` lists them: (chunk row, chunk col, rows, cols).
ChunkWindow = tuple[int, int, slice, slice]


#: The images a scene holds, in the order they are read.
SCENE_IMAGES: tuple[str, ...] = ("s1", "s2_cloudy")
#: Per image, the array that says which pixels hold a measurement (the policy of :mod:`equicr.scaling`).
VALID_ARRAYS: dict[str, str] = {"s1": "s1_valid", "s2_cloudy": "s2_cloudy_valid"}
#: The completion markers of a scene's ingest, one per chunk window (:mod:`equicr.data.completion`).
INGEST_MARKERS = "ingest_done"
#: The CF grid-mapping variable that carries a scene's CRS and transform (read by rioxarray and odc-geo).
GRID_MAPPING = "spatial_ref"


def scene_layout_problem(shapes: dict[str, tuple[int, ...]]) -> str | None:
    """Why images of these shapes cannot form a scene (missing image, wrong bands, two grids), or None.

    The one scene check: ingest applies it to the arrays it is about to write, decloud to the
    arrays a collection holds.
    """
    for name in SCENE_IMAGES:
        bands = PRODUCTS[name].bands
        if name not in shapes:
            return f"no '{name}' array"
        if len(shapes[name]) != 3 or shapes[name][0] != len(bands):
            return f"'{name}' has shape {tuple(shapes[name])}, expected ({len(bands)}, H, W) with bands {bands}"
    grids = {name: tuple(shapes[name][1:]) for name in SCENE_IMAGES}
    if len(set(grids.values())) > 1:
        return " but ".join(f"{name} is {grid} px" for name, grid in grids.items()) + ": not one grid"
    return None


def stored_scene_problem(scene: zarr.Group) -> str | None:
    """Why a stored scene cannot be processed (see :func:`scene_layout_problem`, plus its masks), or None."""
    problem = scene_layout_problem({name: scene[name].shape for name in SCENE_IMAGES if name in scene})
    if problem is None and any(mask not in scene for mask in VALID_ARRAYS.values()):
        return "it has no valid-pixel masks (ingested by an older EquiCR); ingest it again"
    return problem


def chunk_windows(height: int, width: int) -> list[ChunkWindow]:
    """(chunk row, chunk col, rows, cols) of every scene chunk: the unit ingest writes and resumes."""
    return [
        (row, col, slice(top, min(top + SCENE_CHUNK, height)), slice(left, min(left + SCENE_CHUNK, width)))
        for row, top in enumerate(range(0, height, SCENE_CHUNK))
        for col, left in enumerate(range(0, width, SCENE_CHUNK))
    ]


def chunk_grid(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The pixel chunk (rows, cols) of a scene of this size, and how many chunk windows (rows, cols) it has."""
    chunk = (min(SCENE_CHUNK, height), min(SCENE_CHUNK, width))
    return chunk, (-(-height // SCENE_CHUNK), -(-width // SCENE_CHUNK))


def grid_mapping_attributes(geo: GeoReference) -> dict[str, str]:
    """Attributes that tie an array to the scene's ``spatial_ref`` (none when the scene has no CRS)."""
    return {"grid_mapping": GRID_MAPPING, "coordinates": GRID_MAPPING} if geo.is_georeferenced else {}


def nodata_attribute(dtype: str | np.dtype, fill: float) -> dict[str, int | str]:
    """The CF ``_FillValue`` attribute of a pixel array, so that xarray and rioxarray see its no-data value.

    Zarr's own ``fill_value`` says what an unwritten chunk reads as, not which pixels hold no
    measurement, and xarray does not mask by it for Zarr v3. The CF attribute does, in the encoding
    xarray reads and writes for Zarr v3: an integer as it is, a float as the base64 of its
    little-endian float64 bytes (so NaN survives JSON).
    """
    if np.dtype(dtype).kind == "f":
        return {"_FillValue": base64.standard_b64encode(struct.pack("<d", float(fill))).decode()}
    return {"_FillValue": int(fill)}


def pixel_attributes(geo: GeoReference, dtype: str | np.dtype, fill: float) -> dict[str, int | str]:
    """The attributes of a scene's pixel array: its grid mapping and its no-data value."""
    return {**grid_mapping_attributes(geo), **nodata_attribute(dtype, fill)}


def ingest_markers(scene: zarr.Group) -> CompletionMarkers:
    """Which chunk windows of a scene are ingested."""
    return CompletionMarkers(scene, INGEST_MARKERS)


def scene_names(collection: zarr.Group, complete_only: bool = True) -> list[str]:
    """Names of the scenes in a collection, sorted; by default only those fully written."""
    scenes = collection["scenes"]
    names = sorted(name for name, _ in scenes.groups())
    return [n for n in names if not complete_only or scenes[n].attrs.get("complete", False)]


def scene_georeference(collection: zarr.Group, name: str) -> GeoReference:
    """The CRS and transform of one scene."""
    attrs = collection["scenes"][name].attrs
    return GeoReference(attrs["crs"], tuple(attrs["transform"]))
