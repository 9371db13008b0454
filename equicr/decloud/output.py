"""The layout of a scene's decloud output, beside its inputs in the scenes collection.

Per scene: ``s2_decloud`` (13-band DN on the input grid, one chunk per work unit), optionally
``cloud_probability``, and ``decloud_done``, one marker chunk per unit written only after the
unit's data (an unwritten chunk and an all-fill chunk look alike, so completion needs its own
marker; its dimensions are ``tile_row`` and ``tile_col``). The scene's ``decloud`` attribute
records the model, the :class:`~equicr.decloud.settings.DecloudSettings`, how the actors actually
ran (``actors``: backend, device or provider, precision) and says ``complete`` only once every
unit is done.
"""

from __future__ import annotations

import json

import numpy as np
import zarr

from equicr.bands import PRODUCTS
from equicr.data.collection import PIXEL_COMPRESSORS
from equicr.data.completion import CompletionMarkers
from equicr.data.rasters import GeoReference
from equicr.data.scenes import pixel_attributes
from equicr.decloud.settings import DecloudSettings
from equicr.decloud.tiling import tile_grid
from equicr.errors import UserError
from equicr.postprocessing import needs_clouds

OUTPUT_ARRAY, DONE_ARRAY, PROBABILITY_ARRAY = "s2_decloud", "decloud_done", "cloud_probability"
#: The scene attribute that records how the output was made, and whether it is complete.
RECORD_ATTRIBUTE = "decloud"


class DecloudError(UserError):
    """A scene cannot be declouded as asked."""


def prepare_output(
    scene: zarr.Group, name: str, model_record: dict, settings: DecloudSettings, overwrite: bool
) -> None:
    """Create the scene's output arrays, or check that existing ones come from the same model and settings."""
    record = {**model_record, **settings.record()}
    tile_size = settings.tile_size
    existing = scene.attrs.get(RECORD_ATTRIBUTE)
    if existing is not None:
        identity = {key: value for key, value in record.items() if key != "model"}  # the file by its SHA-256
        if {key: existing.get(key) for key in identity} == identity:
            return
        if not overwrite:
            raise DecloudError(
                f"scene {name} already has output from {existing.get('model')} with different parameters; "
                "pass --overwrite to replace it"
            )
        del scene.attrs[RECORD_ATTRIBUTE]  # first: an overwrite killed below never leaves a record saying complete
        for array in (OUTPUT_ARRAY, DONE_ARRAY, PROBABILITY_ARRAY):
            if array in scene:
                del scene[array]
    optical = PRODUCTS["s2"]
    _, height, width = scene["s2_cloudy"].shape
    rows, cols = tile_grid(height, width, tile_size)
    geo = GeoReference(scene.attrs.get("crs"), tuple(scene.attrs.get("transform", ())))
    scene.create_array(
        OUTPUT_ARRAY, shape=(len(optical.bands), height, width), chunks=(len(optical.bands), tile_size, tile_size),
        dtype=optical.dtype, fill_value=optical.fill, dimension_names=[optical.band_dimension, "y", "x"],
        compressors=PIXEL_COMPRESSORS, overwrite=True, attributes=pixel_attributes(geo, optical.dtype, optical.fill),
    )  # fmt: skip
    CompletionMarkers.create(scene, DONE_ARRAY, (rows, cols), ["tile_row", "tile_col"])
    if needs_clouds(settings.postprocessing):
        scene.create_array(
            PROBABILITY_ARRAY, shape=(height, width), chunks=(tile_size, tile_size), dtype="float32",
            fill_value=np.nan, dimension_names=["y", "x"], overwrite=True,
            attributes=pixel_attributes(geo, "float32", np.nan),
        )  # fmt: skip
    scene.attrs[RECORD_ATTRIBUTE] = {**record, "complete": False}


def unit_markers(scene: zarr.Group) -> CompletionMarkers:
    """Which work units (tile row, tile col) of the scene's output are finished."""
    return CompletionMarkers(scene, DONE_ARRAY)


def record_actors(scene: zarr.Group, ran_with: list[dict]) -> None:
    """Add how this run's actors ran (backend, device or provider, the precision chosen) to the scene's record."""
    record = scene.attrs[RECORD_ATTRIBUTE]
    known = [json.dumps(entry, sort_keys=True) for entry in record.get("actors", []) + ran_with]
    scene.attrs[RECORD_ATTRIBUTE] = {**record, "actors": [json.loads(entry) for entry in sorted(set(known))]}


def mark_scene_complete(scene: zarr.Group) -> None:
    """Record that every unit of the scene's output is finished."""
    scene.attrs[RECORD_ATTRIBUTE] = {**scene.attrs[RECORD_ATTRIBUTE], "complete": True}


def is_complete(scene: zarr.Group) -> bool:
    """Whether the scene's output is completely declouded."""
    return bool(scene.attrs.get(RECORD_ATTRIBUTE, {}).get("complete"))
