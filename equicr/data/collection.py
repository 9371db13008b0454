"""Zarr v3 collections, the contract between ingest, training, declouding and evaluation.

Two kinds, each marked by a versioned schema attribute and checked on open:

- ``patches``: co-registered triplets ``s1`` (N, 2, 256, 256) float32 dB, ``s2_cloudy`` and ``s2``
  (N, 13, 256, 256) uint16 DN, one chunk per patch, with per-patch ``patch_id``, ``split``,
  ``cloud_cover``, ``crs``, ``transform`` and ``complete`` (the completion marker: an unwritten
  chunk and an all-fill chunk look alike, so a patch counts only once ``complete`` is set, after its
  pixels are written).
- ``scenes``: one group per scene under ``scenes/``, any size, with ``s1`` and ``s2_cloudy``, their
  valid-pixel masks ``s1_valid`` and ``s2_cloudy_valid``, ``x``/``y`` coordinates and a CF
  ``spatial_ref`` (CRS and transform, also in the scene's attributes), the items it came from in
  its ``source`` attribute, and ``ingest_done``, one marker per chunk window (ingest writes and
  resumes window by window). Decloud jobs write their outputs beside them.

Arrays carry ``dimension_names`` so ``xarray.open_zarr`` opens them. Each chunk write to a local
store is atomic (zarr writes a temporary file and renames it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fsspec
import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from equicr.bands import PATCH_SIZE, PRODUCTS, S1_BANDS, S2_BANDS, TRIPLET
from equicr.data.rasters import GeoReference
from equicr.scaling import optical_valid_mask, sar_valid_mask
from equicr.storage import json_safe, normalise

CollectionKind = Literal["patches", "scenes"]
#: Attribute that marks a store as an EquiCR collection.
SCHEMA_ATTRIBUTE = "equicr_collection"
SCHEMA_VERSION = 1
#: Attribute of a patches collection whose ``s1`` holds only the fill value (optical-only pairs);
#: absent means the collection has Sentinel-1.
HAS_SAR_ATTRIBUTE = "has_sar"
#: Per-patch metadata arrays are chunked in runs of this many patches.
METADATA_CHUNK = 1024
#: Scene pixels are chunked in squares of this size (bands stay in one chunk).
SCENE_CHUNK = 512


#: Pixel chunks are compressed with a content checksum, so a damaged chunk fails to decode instead
#: of being read as wrong pixels (without it, a flipped byte is read silently).
PIXEL_COMPRESSORS = (ZstdCodec(level=0, checksum=True),)


class CollectionError(ValueError):
    """A store is not the collection it was expected to be."""


class DamagedChunkError(CollectionError):
    """A stored chunk cannot be decoded: the file or object holding it is damaged."""


def read_pixels(array: zarr.Array, selection: tuple, where: str) -> np.ndarray:
    """``array[selection]``; a chunk that cannot be decoded is a DamagedChunkError naming the array and ``where``."""
    try:
        return array[selection]
    except (RuntimeError, ValueError, TypeError) as error:  # what the codecs raise on damaged bytes
        raise DamagedChunkError(
            f"{array.store_path}: the chunk holding {where} cannot be decoded ({error}); "
            "it is damaged: ingest that item again"
        ) from error


#: Scene and patch names: one path segment of safe characters, starting with a letter or digit.
ITEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


def check_item_name(name: str, what: str = "scene") -> str:
    """``name`` if it is a valid scene or patch name, else a CollectionError saying what is allowed.

    Names become Zarr paths: an empty name or one with ``/`` or ``..`` would address the collection
    itself or a place outside the item, so nothing but one safe segment is accepted.
    """
    if not isinstance(name, str) or ITEM_NAME.fullmatch(name) is None:
        raise CollectionError(
            f"{what} name {name!r} is not allowed: use 1-200 letters, digits, '.', '_', '+' or '-', "
            "starting with a letter or digit"
        )
    return name


def store_exists(path: str | Path) -> bool:
    """Whether anything is stored at a local path or object-store URI (fsspec resolves the scheme).

    A file (not a folder or prefix) there is refused by name: a collection is never written over it.
    """
    filesystem, location = fsspec.core.url_to_fs(normalise(path))
    if filesystem.isfile(location):
        raise CollectionError(f"{path} is a file, not a Zarr collection; choose another --out or remove the file")
    return filesystem.exists(location)


def _schema(kind: CollectionKind, **extra: Any) -> dict[str, Any]:
    return {
        SCHEMA_ATTRIBUTE: {"kind": kind, "version": SCHEMA_VERSION},
        "s1_bands": list(S1_BANDS),
        "s2_bands": list(S2_BANDS),
        **extra,
    }


def open_collection(path: str | Path, kind: CollectionKind, mode: Literal["r", "r+"] = "r") -> zarr.Group:
    """Open an existing collection and check its schema marker, kind and version."""
    store_exists(path)  # refuses a file by name
    try:
        group = zarr.open_group(normalise(path), mode=mode)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError) as error:
        raise CollectionError(f"{path} is not a Zarr group; create it with jobs/ingest.py") from error
    marker = group.attrs.get(SCHEMA_ATTRIBUTE)
    if not isinstance(marker, dict):
        raise CollectionError(
            f"{path} is a Zarr group but not an EquiCR collection (no '{SCHEMA_ATTRIBUTE}' attribute)"
        )
    if marker.get("kind") != kind:
        raise CollectionError(f"{path} is a '{marker.get('kind')}' collection, expected '{kind}'")
    if marker.get("version") != SCHEMA_VERSION:
        raise CollectionError(
            f"{path} has collection schema version {marker.get('version')}; this code reads version {SCHEMA_VERSION}"
        )
    return group


# ----------------------------------------------------------------------------------------- patches


def create_patches(path: str | Path, patch_ids: list[str], patch_size: int = PATCH_SIZE) -> zarr.Group:
    """Create an empty patches collection for ``patch_ids`` (in this order) and return it."""
    if store_exists(path):
        raise CollectionError(f"{path} already exists; open it to resume, or choose another path")
    for patch_id in patch_ids:
        check_item_name(patch_id, "patch")
    if len(set(patch_ids)) != len(patch_ids):
        raise CollectionError(f"{path}: patch ids repeat; each patch needs its own id")
    count = len(patch_ids)
    group = zarr.open_group(normalise(path), mode="w-")
    for name in TRIPLET:
        product = PRODUCTS[name]
        bands = len(product.bands)
        group.create_array(
            name, shape=(count, bands, patch_size, patch_size), chunks=(1, bands, patch_size, patch_size),
            dtype=product.dtype, fill_value=product.fill, dimension_names=["patch", product.band_dimension, "y", "x"],
            compressors=PIXEL_COMPRESSORS,
        )  # fmt: skip
    chunk = (min(METADATA_CHUNK, max(count, 1)),)
    group.create_array("patch_id", shape=(count,), chunks=chunk, dtype=str, dimension_names=["patch"])[:] = np.array(
        patch_ids, dtype=object
    )
    group.create_array("split", shape=(count,), chunks=chunk, dtype=str, dimension_names=["patch"])
    group.create_array("crs", shape=(count,), chunks=chunk, dtype=str, dimension_names=["patch"])
    group.create_array(
        "transform", shape=(count, 6), chunks=(chunk[0], 6), dtype="float64", fill_value=np.nan,
        dimension_names=["patch", "affine"],
    )  # fmt: skip
    group.create_array(
        "cloud_cover", shape=(count,), chunks=chunk, dtype="float32", fill_value=np.nan, dimension_names=["patch"]
    )
    group.create_array(
        "complete", shape=(count,), chunks=chunk, dtype="bool", fill_value=False, dimension_names=["patch"]
    )
    group.attrs.update(_schema("patches", patch_size=patch_size))
    return group


def open_or_create_patches(path: str | Path, patch_ids: list[str], patch_size: int = PATCH_SIZE) -> zarr.Group:
    """The patches collection at ``path`` to resume, or a new one; refuses one made for other patches."""
    if not store_exists(path):
        return create_patches(path, patch_ids, patch_size)
    group = open_collection(path, "patches", mode="r+")
    validate_patches(group, path)
    existing = [str(v) for v in group["patch_id"][:]]
    if existing != patch_ids or group.attrs.get("patch_size", PATCH_SIZE) != patch_size:
        raise CollectionError(
            f"{path} was created from a different selection of patches ({len(existing)} patches, "
            f"{len(patch_ids)} now); rerun the same command to resume it, or choose another output"
        )
    return group


def validate_patches(group: zarr.Group, path: str | Path = "") -> int:
    """Check a patches collection's arrays (names, shapes, dtypes); return the number of patches."""
    count = group["patch_id"].shape[0] if "patch_id" in group else None
    if count is None:
        raise CollectionError(f"{path}: patches collection has no 'patch_id' array")
    size = group.attrs.get("patch_size", PATCH_SIZE)
    for name in TRIPLET:
        bands, dtype = PRODUCTS[name].bands, PRODUCTS[name].dtype
        expected = (count, len(bands), size, size)
        if name not in group:
            raise CollectionError(f"{path}: patches collection lacks the '{name}' array")
        array = group[name]
        if array.shape != expected or np.dtype(array.dtype) != np.dtype(dtype):
            raise CollectionError(
                f"{path}/{name}: expected shape {expected} {dtype} (bands {bands}), found {array.shape} {array.dtype}"
            )
    for name in ("split", "crs", "transform", "cloud_cover", "complete"):
        if name not in group or group[name].shape[0] != count:
            raise CollectionError(f"{path}: per-patch array '{name}' is missing or not of length {count}")
    return count


@dataclass(frozen=True)
class PatchMetadata:
    """What ingest records per patch besides its pixels."""

    split: str
    cloud_cover: float
    geo: GeoReference


def write_patch(group: zarr.Group, index: int, s1: np.ndarray, s2_cloudy: np.ndarray, s2: np.ndarray) -> None:
    """Write one patch's pixels (one chunk per array); completion is marked separately, afterwards."""
    group["s1"][index] = s1
    group["s2_cloudy"][index] = s2_cloudy
    group["s2"][index] = s2


def mark_complete(group: zarr.Group, indices: list[int], metadata: list[PatchMetadata]) -> None:
    """Record the metadata of patches whose pixels are written, then mark them complete.

    Called by one writer only (the ingest driver): per-patch arrays share chunks across patches, so
    concurrent writers would overwrite each other's values.
    """
    if not indices:
        return
    order = np.argsort(indices)
    positions = np.asarray(indices)[order]
    rows = [metadata[i] for i in order]
    for start, stop in _runs(positions):
        selection = slice(int(positions[start]), int(positions[stop - 1]) + 1)
        chunk = rows[start:stop]
        group["split"][selection] = np.array([m.split for m in chunk], dtype=object)
        group["crs"][selection] = np.array([m.geo.crs or "" for m in chunk], dtype=object)
        group["transform"][selection] = np.array([m.geo.transform for m in chunk], dtype=np.float64)
        group["cloud_cover"][selection] = np.array([m.cloud_cover for m in chunk], dtype=np.float32)
        group["complete"][selection] = True


def _runs(sorted_positions: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of consecutive values in a sorted array."""
    breaks = np.flatnonzero(np.diff(sorted_positions) != 1) + 1
    edges = [0, *breaks.tolist(), len(sorted_positions)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def collection_has_sar(path: str | Path) -> bool:
    """Whether a patches collection holds Sentinel-1 (optical-only pairs are marked ``has_sar: false``)."""
    return bool(open_collection(path, "patches").attrs.get(HAS_SAR_ATTRIBUTE, True))


def patch_georeference(group: zarr.Group, index: int) -> GeoReference:
    """The CRS and transform stored for one patch."""
    crs = str(group["crs"][index]) or None
    return GeoReference(crs, tuple(float(v) for v in group["transform"][index]))


# ------------------------------------------------------------------------------------------ scenes


def create_scenes(path: str | Path) -> zarr.Group:
    """Create an empty scenes collection, or open an existing one to add scenes to."""
    if store_exists(path):
        return open_collection(path, "scenes", mode="r+")
    group = zarr.open_group(normalise(path), mode="w-")
    group.create_group("scenes")
    group.attrs.update(_schema("scenes"))
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


def chunk_windows(height: int, width: int) -> list[tuple[int, int, slice, slice]]:
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


def write_scene_window(
    scene: zarr.Group, rows: slice, cols: slice, s1: np.ndarray | None, s2_cloudy: np.ndarray
) -> None:
    """Write one window's pixels and valid-pixel masks; ``s1`` None leaves SAR unmeasured (optical-only)."""
    scene["s2_cloudy"][:, rows, cols] = s2_cloudy
    scene[VALID_ARRAYS["s2_cloudy"]][rows, cols] = optical_valid_mask(s2_cloudy)
    if s1 is not None:
        scene["s1"][:, rows, cols] = np.where(np.isfinite(s1), s1, PRODUCTS["s1"].fill)
        scene[VALID_ARRAYS["s1"]][rows, cols] = sar_valid_mask(s1)


def mark_window_done(scene: zarr.Group, chunk_row: int, chunk_col: int) -> None:
    """Record one chunk window as ingested; call only after its pixels and masks are written."""
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
    for chunk_row, chunk_col, rows, cols in chunk_windows(*s2_cloudy.shape[1:]):
        write_scene_window(scene, rows, cols, s1[:, rows, cols], s2_cloudy[:, rows, cols])
        mark_window_done(scene, chunk_row, chunk_col)
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
