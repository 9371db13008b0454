"""The ``scenes`` collection: one group per scene under ``scenes/``, any size, written window by window.

Each scene holds ``s1`` and ``s2_cloudy``, their valid-pixel masks ``s1_valid`` and
``s2_cloudy_valid`` (the no-data policy of :mod:`equicr.scaling`), ``x``/``y`` coordinates and a CF
``spatial_ref`` (CRS and transform, also in the scene's attributes, read by rioxarray), the items
it came from in its ``source`` attribute, and ``ingest_done``, one marker per chunk window: ingest
writes and resumes window by window, and a scene counts once its ``complete`` attribute is set.
Decloud jobs write their outputs beside the inputs (:mod:`equicr.decloud.output`). The schema
marker and opening are those of :mod:`equicr.data.collection`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from equicr.bands import PRODUCTS
from equicr.data.collection import (
    PIXEL_COMPRESSORS,
    CollectionError,
    check_item_name,
    new_collection_attributes,
    open_collection,
    store_exists,
)
from equicr.data.rasters import GeoReference
from equicr.scaling import optical_valid_mask, sar_valid_mask
from equicr.storage import json_safe, normalise

#: Scene pixels are chunked in squares of this size (bands stay in one chunk): the ingest window.
SCENE_CHUNK = 512
#: One chunk window of a scene, as :func:`chunk_windows` lists them: (chunk row, chunk col, rows, cols).
ChunkWindow = tuple[int, int, slice, slice]


def create_scenes(path: str | Path) -> zarr.Group:
    """Create an empty scenes collection, or open an existing one to add scenes to."""
    if store_exists(path):
        return open_collection(path, "scenes", mode="r+")
    group = zarr.open_group(normalise(path), mode="w-")
    group.create_group("scenes")
    group.attrs.update(new_collection_attributes("scenes"))
    return group


#: The images a scene holds, in the order they are read.
SCENE_IMAGES: tuple[str, ...] = ("s1", "s2_cloudy")
#: Per image, the array that says which pixels hold a measurement (the policy of :mod:`equicr.scaling`).
VALID_ARRAYS: dict[str, str] = {"s1": "s1_valid", "s2_cloudy": "s2_cloudy_valid"}
#: One marker per chunk window of a scene, written only after the window's pixels and masks.
INGEST_DONE_ARRAY = "ingest_done"
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


def create_scene(
    collection: zarr.Group, name: str, height: int, width: int, geo: GeoReference,
    record: dict[str, Any] | None = None, resume: bool = True,
) -> zarr.Group:  # fmt: skip
    """An empty scene of ``height`` x ``width`` px on ``geo``'s grid, or the unfinished one to resume.

    ``record`` (source items and assets, harmonisation) is stored in the ``source`` attribute; an
    unfinished scene is resumed only when it was started on the same grid from the same record,
    else it is removed and made again. A complete scene is never overwritten.
    """
    check_item_name(name)
    scenes = collection["scenes"]
    attrs = {"crs": geo.crs, "transform": list(geo.transform), "source": record or {}, "complete": False}
    if name in scenes:
        scene = scenes[name]
        if scene.attrs.get("complete", False):
            raise CollectionError(f"scene {name} is already complete in the collection; it is never overwritten")
        same = {key: scene.attrs.get(key) for key in attrs} == json_safe(attrs)
        if resume and same and scene["s2_cloudy"].shape[1:] == (height, width):
            return scene
        del scenes[name]  # an interrupted ingest of other inputs: only this scene is removed, and made again
    scene = scenes.create_group(name)
    for array_name in SCENE_IMAGES:
        product = PRODUCTS[array_name]
        scene.create_array(
            array_name, shape=(len(product.bands), height, width), dtype=product.dtype, fill_value=product.fill,
            chunks=(len(product.bands), min(SCENE_CHUNK, height), min(SCENE_CHUNK, width)),
            dimension_names=[product.band_dimension, "y", "x"], compressors=PIXEL_COMPRESSORS,
            attributes=grid_mapping_attributes(geo),
        )  # fmt: skip
        scene.create_array(
            VALID_ARRAYS[array_name], shape=(height, width), dtype="bool", fill_value=False,
            chunks=(min(SCENE_CHUNK, height), min(SCENE_CHUNK, width)), dimension_names=["y", "x"],
            compressors=PIXEL_COMPRESSORS, attributes=grid_mapping_attributes(geo),
        )  # fmt: skip
        scene.create_array(
            product.band_dimension, shape=(len(product.bands),), dtype=str, dimension_names=[product.band_dimension]
        )[:] = np.array(product.bands, dtype=object)
    rows, cols = -(-height // SCENE_CHUNK), -(-width // SCENE_CHUNK)
    scene.create_array(
        INGEST_DONE_ARRAY, shape=(rows, cols), chunks=(1, 1), dtype="bool", fill_value=False,
        dimension_names=["chunk_row", "chunk_col"],
    )  # fmt: skip
    write_coordinates(scene, height, width, geo)
    scene.attrs.update(attrs)
    return scene


def grid_mapping_attributes(geo: GeoReference) -> dict[str, str]:
    """Attributes that tie an array to the scene's ``spatial_ref`` (none when the scene has no CRS)."""
    return {"grid_mapping": GRID_MAPPING, "coordinates": GRID_MAPPING} if geo.is_georeferenced else {}


def write_coordinates(group: zarr.Group, height: int, width: int, geo: GeoReference) -> None:
    """Write ``x``/``y`` pixel-centre coordinates and the CF ``spatial_ref`` variable for a north-up grid.

    These are the conventions rioxarray and odc-geo read: ``xarray.open_zarr(...).rio.crs`` and
    ``.rio.transform()`` give the scene's CRS and transform back.
    """
    a, b, c, d, e, f = geo.transform
    for axis, count, origin, step in (("x", width, c, a), ("y", height, f, e)):
        coordinate = group.create_array(axis, shape=(count,), dtype="float64", dimension_names=[axis], overwrite=True)
        coordinate[:] = origin + (np.arange(count) + 0.5) * step
    if not geo.is_georeferenced:
        return
    from rasterio.crs import CRS

    wkt = CRS.from_user_input(geo.crs).to_wkt()
    reference = group.create_array(GRID_MAPPING, shape=(), dtype="int32", fill_value=0, overwrite=True)
    reference.attrs.update({"crs_wkt": wkt, "spatial_ref": wkt, "GeoTransform": f"{c} {a} {b} {f} {d} {e}"})


def write_scene_window(scene: zarr.Group, window: ChunkWindow, s1: np.ndarray | None, s2_cloudy: np.ndarray) -> None:
    """Write one window's pixels and valid-pixel masks, then mark the window done (in that order).

    ``s1`` None leaves SAR unmeasured (optical-only). A writer killed before the marker leaves a
    window that a rerun writes again; one killed after it leaves nothing to redo.
    """
    chunk_row, chunk_col, rows, cols = window
    scene["s2_cloudy"][:, rows, cols] = s2_cloudy
    scene[VALID_ARRAYS["s2_cloudy"]][rows, cols] = optical_valid_mask(s2_cloudy)
    if s1 is not None:
        scene["s1"][:, rows, cols] = np.where(np.isfinite(s1), s1, PRODUCTS["s1"].fill)
        scene[VALID_ARRAYS["s1"]][rows, cols] = sar_valid_mask(s1)
    scene[INGEST_DONE_ARRAY][chunk_row, chunk_col] = True


def finish_scene(scene: zarr.Group) -> bool:
    """Mark the scene complete if every chunk window is ingested; return whether it is."""
    if not scene[INGEST_DONE_ARRAY][:].all():
        return False
    scene.attrs["complete"] = True
    return True


def write_scene(collection: zarr.Group, name: str, s1: np.ndarray, s2_cloudy: np.ndarray, geo: GeoReference) -> None:
    """Add one scene held in memory (S1 and S2 on one grid), window by window, then mark it complete."""
    check_item_name(name)
    problem = scene_layout_problem({"s1": s1.shape, "s2_cloudy": s2_cloudy.shape})
    if problem is not None:
        raise CollectionError(f"scene {name}: {problem}")
    scene = create_scene(collection, name, *s2_cloudy.shape[1:], geo, resume=False)
    for window in chunk_windows(*s2_cloudy.shape[1:]):
        _, _, rows, cols = window
        write_scene_window(scene, window, s1[:, rows, cols], s2_cloudy[:, rows, cols])
    finish_scene(scene)


def scene_names(collection: zarr.Group, complete_only: bool = True) -> list[str]:
    """Names of the scenes in a collection, sorted; by default only those fully written."""
    scenes = collection["scenes"]
    names = sorted(name for name, _ in scenes.groups())
    return [n for n in names if not complete_only or scenes[n].attrs.get("complete", False)]


def scene_georeference(collection: zarr.Group, name: str) -> GeoReference:
    """The CRS and transform of one scene."""
    attrs = collection["scenes"][name].attrs
    return GeoReference(attrs["crs"], tuple(attrs["transform"]))
