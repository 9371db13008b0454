"""Zarr v3 collections, the contract between ingest, training, declouding and evaluation.

Two kinds, each marked by a versioned schema attribute and checked on open:

- ``patches``: co-registered triplets ``s1`` (N, 2, 256, 256) float32 dB, ``s2_cloudy`` and ``s2``
  (N, 13, 256, 256) uint16 DN, one chunk per patch, with per-patch ``patch_id``, ``split``,
  ``cloud_cover``, ``crs``, ``transform`` and ``complete`` (its completion markers,
  :mod:`equicr.data.completion`: a patch counts only once it is marked, after its pixels are written).
- ``scenes``: one group per scene under ``scenes/``, any size: their layout is
  :mod:`equicr.data.scenes`.

Arrays carry ``dimension_names`` so ``xarray.open_zarr`` opens them. Each chunk write to a local
store is atomic (zarr writes a temporary file and renames it).

A missing chunk is an error, never zeros. Zarr reads a chunk that is not in the store as the fill
value, so a chunk lost by an interrupted copy or sync would read as no-data (or as an all-zero
target). Pixel arrays are therefore written with :func:`write_pixels`, which stores every chunk,
even one that holds only the fill value, and read with :func:`read_pixels`, which refuses a
selection whose chunks are not all stored (:class:`MissingChunkError`, naming the array and where).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import fsspec
import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.core.array import AsyncArray
from zarr.core.sync import sync

from equicr.bands import PATCH_SIZE, PRODUCTS, S1_BANDS, S2_BANDS, TRIPLET
from equicr.data.completion import CompletionMarkers
from equicr.data.rasters import GeoReference
from equicr.errors import UserError
from equicr.storage import normalise

CollectionKind = Literal["patches", "scenes"]
#: Attribute that marks a store as an EquiCR collection.
SCHEMA_ATTRIBUTE = "equicr_collection"
#: Version 2 stores every pixel chunk (version 1 left all-fill chunks out, so a lost chunk looked like no-data).
SCHEMA_VERSION = 2
#: Attribute of a patches collection whose ``s1`` holds only the fill value (optical-only pairs);
#: absent means the collection has Sentinel-1.
HAS_SAR_ATTRIBUTE = "has_sar"
#: The completion markers of a patches collection, one per patch.
PATCH_MARKERS = "complete"
#: Per-patch metadata arrays are chunked in runs of this many patches.
METADATA_CHUNK = 1024


#: Pixel chunks are compressed with a content checksum, so a damaged chunk fails to decode instead
#: of being read as wrong pixels (without it, a flipped byte is read silently).
PIXEL_COMPRESSORS = (ZstdCodec(level=0, checksum=True),)


class CollectionError(UserError):
    """A store is not the collection it was expected to be."""


class DamagedChunkError(CollectionError):
    """A stored chunk cannot be decoded: the file or object holding it is damaged."""


class MissingChunkError(CollectionError):
    """A stored item lacks a chunk of its pixels: the copy or sync that made the store was interrupted."""


def read_pixels(array: zarr.Array, selection: tuple, where: str) -> np.ndarray:
    """``array[selection]`` (integers and slices), refusing what would read as fill instead of stored pixels.

    A chunk that is not in the store is a MissingChunkError and one that cannot be decoded a
    DamagedChunkError, each naming the array, ``where`` and what to do.
    """
    missing = missing_chunks(array, selection)
    if missing:
        raise MissingChunkError(
            f"{array.store_path}: {len(missing)} chunk(s) holding {where} are not in the store "
            f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); the store is incomplete "
            "(an interrupted copy or sync?): copy it again or ingest that item again"
        )
    try:
        return array[selection]
    except (RuntimeError, ValueError, TypeError) as error:  # what the codecs raise on damaged bytes
        raise DamagedChunkError(
            f"{array.store_path}: the chunk holding {where} cannot be decoded ({error}); "
            "it is damaged: ingest that item again"
        ) from error


def write_pixels(array: zarr.Array, selection: tuple, values: np.ndarray) -> None:
    """``array[selection] = values``, storing every chunk, also one that holds only the fill value.

    Zarr leaves such chunks out by default; a pixel array must not, so that :func:`read_pixels`
    can tell a chunk never written (or lost) from a chunk of no-data.
    """
    writer = AsyncArray(array.metadata, array.store_path, config={"write_empty_chunks": True})
    zarr.Array(writer)[selection] = values


def missing_chunks(array: zarr.Array, selection: tuple) -> list[str]:
    """The store keys of the chunks that ``array[selection]`` covers and the store does not hold."""
    ranges = []
    for axis, (size, chunk) in enumerate(zip(array.shape, array.chunks, strict=True)):
        item = selection[axis] if axis < len(selection) else slice(None)
        if isinstance(item, slice):
            start, stop, _ = item.indices(size)
            if stop <= start:
                return []
            ranges.append(range(start // chunk, (stop - 1) // chunk + 1))
        else:
            index = int(item) % size
            ranges.append(range(index // chunk, index // chunk + 1))
    prefix = f"{array.path}/" if array.path else ""
    keys = [prefix + array.metadata.encode_chunk_key(coords) for coords in itertools.product(*ranges)]

    async def exists() -> list[bool]:
        return await asyncio.gather(*(array.store.exists(key) for key in keys))

    return [key for key, stored in zip(keys, sync(exists()), strict=True) if not stored]


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


def new_collection_attributes(kind: CollectionKind, **extra: Any) -> dict[str, Any]:
    """The attributes that mark a new collection of ``kind``: schema marker, version and band names."""
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
    CompletionMarkers.create(group, PATCH_MARKERS, (count,), ["patch"], chunks=chunk)
    group.attrs.update(new_collection_attributes("patches", patch_size=patch_size))
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


def write_patch(group: zarr.Group, index: int, s1: np.ndarray | None, s2_cloudy: np.ndarray, s2: np.ndarray) -> None:
    """Write one patch's pixels (one chunk per array); completion is marked afterwards.

    ``s1`` None (a patch without Sentinel-1) stores the SAR fill value, so the chunk is there and
    reads as no-data, as every stored chunk must (a missing one is an error).
    """
    if s1 is None:
        s1 = np.full(group["s1"].shape[1:], group["s1"].fill_value, dtype=group["s1"].dtype)
    write_pixels(group["s1"], (index,), s1)
    write_pixels(group["s2_cloudy"], (index,), s2_cloudy)
    write_pixels(group["s2"], (index,), s2)


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
        patch_markers(group).mark_completed(selection)


def _runs(sorted_positions: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of consecutive values in a sorted array."""
    breaks = np.flatnonzero(np.diff(sorted_positions) != 1) + 1
    edges = [0, *breaks.tolist(), len(sorted_positions)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def patch_markers(group: zarr.Group) -> CompletionMarkers:
    """Which patches of a patches collection are completely written."""
    return CompletionMarkers(group, PATCH_MARKERS)


def collection_has_sar(path: str | Path) -> bool:
    """Whether a patches collection holds Sentinel-1 (optical-only pairs are marked ``has_sar: false``)."""
    return bool(open_collection(path, "patches").attrs.get(HAS_SAR_ATTRIBUTE, True))


def patch_georeference(group: zarr.Group, index: int) -> GeoReference:
    """The CRS and transform stored for one patch."""
    crs = str(group["crs"][index]) or None
    return GeoReference(crs, tuple(float(v) for v in group["transform"][index]))
