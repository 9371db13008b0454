"""Export a declouded scene as Cloud-Optimized GeoTIFFs a GIS opens as they are, chunk by chunk.

The output COG carries the scene's CRS and transform, nodata 0 (where an input held no
measurement), the band names as descriptions, the DN-to-reflectance scale (1e-4), red/green/blue
colour interpretation on B04/B03/B02 so QGIS shows true colour by default, and averaged overviews.
Pixels are copied from Zarr one chunk at a time into a tiled GeoTIFF, which rio-cogeo then turns
into the COG (overviews built window by window), so memory does not grow with the scene.
``rio cogeo validate`` accepts both files (tested).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from equicr.bands import S2_BANDS, S2_RGB_BANDS
from equicr.data.collection import open_collection, read_pixels
from equicr.data.scenes import scene_georeference
from equicr.decloud.output import OUTPUT_ARRAY, PROBABILITY_ARRAY, RECORD_ATTRIBUTE, DecloudError, is_complete
from equicr.scaling import OPTICAL_DN_MAX, OPTICAL_FILL_DN
from equicr.storage import atomic_output

#: Internal tiling and compression of the exported files.
COG_PROFILE = "deflate"
#: Internal tile side of the COG (and of each overview level), in pixels.
COG_BLOCK = 256
#: Block side of the intermediate GeoTIFF, in pixels (GeoTIFF tiles are multiples of 16); the Zarr
#: array is read chunk by chunk, whatever its chunk size, so each chunk is decoded once.
STAGING_BLOCK = 512


def _colour_interpretation() -> list[ColorInterp]:
    colours = dict(zip(S2_RGB_BANDS, (ColorInterp.red, ColorInterp.green, ColorInterp.blue), strict=True))
    return [colours.get(band, ColorInterp.undefined) for band in S2_BANDS]


def export_cog(collection_path: str | Path, scene_name: str, out: str | Path) -> Path:
    """Write a completely declouded scene as a 13-band uint16 COG (see the module docstring for what it carries)."""
    collection = open_collection(collection_path, "scenes")
    scene = collection["scenes"][scene_name]
    if not is_complete(scene):
        raise DecloudError(f"scene {scene_name} in {collection_path} is not completely declouded yet")
    record = scene.attrs[RECORD_ATTRIBUTE]
    tags = {"equicr_model": record.get("model", ""), "equicr_model_sha256": record.get("model_sha256", ""),
            "equicr_scene": scene_name}  # fmt: skip
    return _write_cog(scene[OUTPUT_ARRAY], scene_georeference(collection, scene_name), out, OPTICAL_FILL_DN,
                      list(S2_BANDS), 1.0 / OPTICAL_DN_MAX, _colour_interpretation(), tags)  # fmt: skip


def export_probability_cog(collection_path: str | Path, scene_name: str, out: str | Path) -> Path:
    """Write the cloud probability that ``--keep-clear`` used as a one-band float32 COG (nodata NaN)."""
    collection = open_collection(collection_path, "scenes")
    scene = collection["scenes"][scene_name]
    if not is_complete(scene) or PROBABILITY_ARRAY not in scene:
        raise DecloudError(f"scene {scene_name} has no complete cloud probability (decloud with --keep-clear)")
    array = scene[PROBABILITY_ARRAY]
    resolution = scene.attrs[RECORD_ATTRIBUTE].get("cloud_resolution_m")
    return _write_cog(array, scene_georeference(collection, scene_name), out, float("nan"), ["cloud_probability"],
                      1.0, [ColorInterp.gray], {"s2cloudless_resolution_m": str(resolution)})  # fmt: skip


def _write_cog(array, geo, out, nodata, descriptions, scale, colours, tags) -> Path:
    single = array.ndim == 2
    count, (height, width) = (1 if single else array.shape[0]), array.shape[-2:]
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": count, "dtype": str(array.dtype),
        "crs": geo.crs, "transform": rasterio.Affine(*geo.transform), "nodata": nodata, "tiled": True,
        "blockxsize": STAGING_BLOCK, "blockysize": STAGING_BLOCK, "compress": "deflate",
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="equicr-cog-") as folder:
        staging = Path(folder) / "staging.tif"
        with rasterio.open(staging, "w", **profile) as dataset:
            chunk_rows, chunk_cols = array.chunks[-2:]
            for top in range(0, height, chunk_rows):
                for left in range(0, width, chunk_cols):
                    rows, cols = slice(top, min(top + chunk_rows, height)), slice(left, min(left + chunk_cols, width))
                    selection = (rows, cols) if single else (slice(None), rows, cols)
                    block = read_pixels(array, selection, f"rows {top}:{rows.stop}, cols {left}:{cols.stop}")
                    window = Window(left, top, cols.stop - left, rows.stop - top)
                    dataset.write(block[None] if single else block, window=window)
            dataset.descriptions = descriptions
            dataset.scales = [scale] * count
            dataset.offsets = [0.0] * count
            dataset.colorinterp = colours
            dataset.update_tags(**tags)
        with atomic_output(out) as temporary:
            profile = {**cog_profiles.get(COG_PROFILE), "blockxsize": COG_BLOCK, "blockysize": COG_BLOCK}
            cog_translate(staging, temporary, profile, nodata=nodata,
                          overview_resampling="average", quiet=True, in_memory=False)  # fmt: skip
    return Path(out)


def export_scene(collection_path: str | Path, scene_name: str, folder: Path, with_probability: bool) -> list[Path]:
    """Write ``<scene>.tif``, optionally ``<scene>_cloud_probability.tif``, and the STAC item ``<scene>.json``."""
    from equicr.decloud.stac_item import write_scene_item

    folder = Path(folder)
    written = [export_cog(collection_path, scene_name, folder / f"{scene_name}.tif")]
    if with_probability:
        written.append(
            export_probability_cog(collection_path, scene_name, folder / f"{scene_name}_cloud_probability.tif")
        )
    written.append(write_scene_item(collection_path, scene_name, folder, probability=with_probability))
    return written
