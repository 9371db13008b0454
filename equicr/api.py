"""The calls a notebook wants, each a composition of what the jobs run, with the jobs' defaults.

import equicr
equicr.decloud_geotiff("s2_cloudy.tif", "declouded.tif")                 # the shipped optical model
equicr.decloud_geotiff("s2_cloudy.tif", "declouded.tif", s1="s1.tif", model="runs/equicr-demo")
dataset = equicr.open_patches("data/composites-default.zarr", "train")   # a torch Dataset
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from equicr.bands import InputMode, has_sar_input
from equicr.decloud.tiling import DEFAULT_TILE_SIZE
from equicr.errors import UserError
from equicr.paths import SHIPPED_MODEL

#: The scene name a single GeoTIFF is declouded under in its temporary collection.
SCENE_NAME = "scene"


def decloud_geotiff(
    s2_cloudy: str | Path,
    out: str | Path,
    s1: str | Path | None = None,
    model: str | Path = SHIPPED_MODEL,
    tile_size: int = DEFAULT_TILE_SIZE,
    keep_clear: bool = False,
    precision: str = "auto",
    work_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Decloud one cloudy 13-band Sentinel-2 L1C GeoTIFF into a COG at ``out``; return ``out``.

    What ``jobs/ingest.py scenes`` and ``jobs/decloud.py --cog-dir`` do, in this process: the file
    (with the co-registered Sentinel-1 GeoTIFF ``s1`` when the model reads SAR) is ingested into a
    temporary scenes collection under ``work_dir`` (the system's temporary folder by default; a
    10980 px product needs about 4 GB there), declouded tile by tile with the receptive-field halo
    (equal to whole-image inference) and written as a 13-band uint16 COG with nodata 0.

    Raises:
        UserError: a file that cannot be used (named), or a SAR model without ``s1``.
    """
    from equicr.decloud.geotiff import export_cog
    from equicr.decloud.pipeline import run_decloud
    from equicr.decloud.settings import DecloudSettings
    from equicr.deploy.predictors import resolve_model
    from equicr.executors import ActorPool
    from equicr.ingest.geotiffs import ingest_scenes

    settings = DecloudSettings(tile_size=tile_size, keep_clear=keep_clear, precision=precision)
    reference = resolve_model(model)
    if has_sar_input(reference.input_mode) and s1 is None:
        raise UserError(f"{model} reads Sentinel-1 ({reference.input_mode}): pass s1= its co-registered GeoTIFF")
    with tempfile.TemporaryDirectory(prefix="equicr-decloud-", dir=work_dir) as folder:
        collection = str(Path(folder) / "scene.zarr")
        report = ingest_scenes([(SCENE_NAME, s1, s2_cloudy)], collection, progress=progress)
        if report.failures:
            raise UserError(report.failures[0])
        summary = run_decloud(collection, model, settings, pool=ActorPool(use_ray=False), progress=progress)
        if summary.scenes_failed:
            raise UserError(f"{s2_cloudy}: {summary.scenes_failed[SCENE_NAME]}")
        return export_cog(collection, SCENE_NAME, out)


def open_patches(collection: str | Path, split: str = "train", input_mode: InputMode = "sar+opt", **options):
    """A patches collection's split as a torch Dataset of network inputs and targets (see :class:`PatchDataset`)."""
    from equicr.data.dataset import PatchDataset

    return PatchDataset(collection, split, input_mode, **options)
