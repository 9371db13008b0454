"""The one scene writer: scenes of any size created (or resumed), written and marked window by window.

Every scene ingest (co-registered GeoTIFF pairs, STAC items, synthetic scenes) creates its scene
with :func:`create_scene`, writes each chunk window's pixels and valid-pixel masks with
:func:`write_scene_window`, which marks the window done only afterwards, and calls
:func:`finish_scene`, which marks the scene complete once every window is done. A killed writer
leaves windows that a rerun writes again, never a scene that looks complete and is not. The layout
itself is :mod:`equicr.data.scenes`.
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
    write_pixels,
)
from equicr.data.completion import CompletionMarkers
from equicr.data.rasters import GeoReference
from equicr.data.scenes import (
    GRID_MAPPING,
    INGEST_MARKERS,
    SCENE_IMAGES,
    VALID_ARRAYS,
    ChunkWindow,
    chunk_grid,
    chunk_windows,
    grid_mapping_attributes,
    ingest_markers,
    pixel_attributes,
    scene_layout_problem,
)
from equicr.scaling import optical_valid_mask, sar_valid_mask
from equicr.storage import json_safe, normalise


def create_scenes(path: str | Path) -> zarr.Group:
    """Create an empty scenes collection, or open an existing one to add scenes to."""
    if store_exists(path):
        return open_collection(path, "scenes", mode="r+")
    group = zarr.open_group(normalise(path), mode="w-")
    group.create_group("scenes")
    group.attrs.update(new_collection_attributes("scenes"))
    return group


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
    chunk, windows = chunk_grid(height, width)
    for array_name in SCENE_IMAGES:
        product = PRODUCTS[array_name]
        scene.create_array(
            array_name, shape=(len(product.bands), height, width), dtype=product.dtype, fill_value=product.fill,
            chunks=(len(product.bands), *chunk),
            dimension_names=[product.band_dimension, "y", "x"], compressors=PIXEL_COMPRESSORS,
            attributes=pixel_attributes(geo, product.dtype, product.fill),
        )  # fmt: skip
        scene.create_array(
            VALID_ARRAYS[array_name], shape=(height, width), dtype="bool", fill_value=False,
            chunks=chunk, dimension_names=["y", "x"],
            compressors=PIXEL_COMPRESSORS, attributes=grid_mapping_attributes(geo),
        )  # fmt: skip
        scene.create_array(
            product.band_dimension, shape=(len(product.bands),), dtype=str, dimension_names=[product.band_dimension]
        )[:] = np.array(product.bands, dtype=object)
    rows, cols = windows
    CompletionMarkers.create(scene, INGEST_MARKERS, (rows, cols), ["chunk_row", "chunk_col"])
    write_coordinates(scene, height, width, geo)
    scene.attrs.update(attrs)
    return scene


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
    write_pixels(scene["s2_cloudy"], (slice(None), rows, cols), s2_cloudy)
    write_pixels(scene[VALID_ARRAYS["s2_cloudy"]], (rows, cols), optical_valid_mask(s2_cloudy))
    if s1 is not None:
        write_pixels(scene["s1"], (slice(None), rows, cols), np.where(np.isfinite(s1), s1, PRODUCTS["s1"].fill))
        write_pixels(scene[VALID_ARRAYS["s1"]], (rows, cols), sar_valid_mask(s1))
    ingest_markers(scene).mark_completed((chunk_row, chunk_col))


def finish_scene(scene: zarr.Group) -> bool:
    """Mark the scene complete if every chunk window is ingested; return whether it is."""
    if not ingest_markers(scene).all_completed():
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
