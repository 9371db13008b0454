"""The calls a notebook wants, each a composition of what the jobs run, with the jobs' defaults.

import equicr
equicr.decloud_geotiff("s2_cloudy.tif", "declouded.tif")                 # the shipped optical model
equicr.decloud_geotiff("s2_cloudy.tif", "declouded.tif", s1="s1.tif", model="runs/equicr-demo")
dataset = equicr.open_patches("data/composites-default.zarr", "train")   # a torch Dataset
scene = equicr.open_scene("data/scenes.zarr", "tile_a")                  # xarray, with CRS and nodata
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from equicr.bands import InputMode, has_sar_input
from equicr.decloud.tiling import DEFAULT_TILE_SIZE
from equicr.errors import UserError
from equicr.paths import SHIPPED_MODEL
from equicr.postprocessing import DEFAULT_POSTPROCESSING

#: The scene name a single GeoTIFF is declouded under in its temporary collection.
SCENE_NAME = "scene"


def decloud_geotiff(
    s2_cloudy: str | Path,
    out: str | Path,
    s1: str | Path | None = None,
    model: str | Path = SHIPPED_MODEL,
    tile_size: int = DEFAULT_TILE_SIZE,
    postprocessing: str = DEFAULT_POSTPROCESSING,
    precision: str = "auto",
    work_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Decloud one cloudy 13-band Sentinel-2 L1C GeoTIFF into a COG at ``out``; return ``out``.

    What ``jobs/ingest.py scenes`` and ``jobs/decloud.py --cog-dir`` do, in this process: the file
    (with the co-registered Sentinel-1 GeoTIFF ``s1`` when the model reads SAR) is ingested into a
    temporary scenes collection under ``work_dir`` (the system's temporary folder by default; a
    10980 px product needs about 4 GB there), declouded tile by tile with the receptive-field halo
    (equal to whole-image inference) and written as a 13-band uint16 COG with nodata 0 (which
    needs about 4 GB more in the system's temporary folder while it is written).

    Raises:
        UserError: a file that cannot be used (named), or a SAR model without ``s1``.
    """
    from equicr.decloud.geotiff import export_cog
    from equicr.decloud.pipeline import run_decloud
    from equicr.decloud.settings import DecloudSettings
    from equicr.deploy.predictors import resolve_model
    from equicr.executors import ActorPool
    from equicr.ingest.geotiffs import ingest_scenes

    settings = DecloudSettings(tile_size=tile_size, postprocessing=postprocessing, precision=precision)
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


def open_scene(collection: str | Path, scene: str):
    """One scene of a scenes collection as an ``xarray.Dataset``: its inputs and, once declouded, ``s2_decloud``.

    Pixel arrays carry their CRS and transform (``.rio.crs``, ``.rio.transform()`` through
    rioxarray) and their no-data value: xarray masks it (DN 0 becomes NaN; ``.rio.encoded_nodata``
    is 0), so ``scene.s2_decloud.rio.to_raster("out.tif")`` writes a GeoTIFF that says its nodata.
    Bands are labelled (``scene.s2_decloud.sel(s2_band="B04")``).

    Raises:
        UserError: not a scenes collection, no such scene, or a decloud output that is not complete
            (a rerun of ``equicr decloud`` finishes it).
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    from equicr.data.collection import open_collection
    from equicr.decloud.output import OUTPUT_ARRAY, is_complete

    scenes = open_collection(collection, "scenes")["scenes"]
    if scene not in scenes:
        names = sorted(name for name, _ in scenes.groups())
        raise UserError(f"{collection} has no scene {scene!r}; its scenes: {', '.join(names) or 'none'}")
    group = scenes[scene]
    if not group.attrs.get("complete", False):
        raise UserError(f"scene {scene} of {collection} is not completely ingested; rerun the ingest to finish it")
    if OUTPUT_ARRAY in group and not is_complete(group):
        raise UserError(
            f"scene {scene} of {collection} has an unfinished decloud output; rerun equicr decloud to finish it"
        )
    return xr.open_zarr(group.store, group=f"scenes/{scene}", consolidated=False)
