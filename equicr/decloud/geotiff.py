"""Export a declouded scene as Cloud-Optimized GeoTIFFs a GIS opens as they are, chunk by chunk.

The output COG carries the scene's CRS and transform, nodata 0 (where an input held no
measurement), the band names as descriptions, the DN-to-reflectance scale (1e-4), red/green/blue
colour interpretation on B04/B03/B02 so QGIS shows true colour by default, and averaged overviews.
Pixels are copied from Zarr one chunk at a time into an uncompressed tiled GeoTIFF; each overview
level (down to one COG block, as rio-cogeo counts them) is averaged from the level above it window
by window (2x2 cells, no-data pixels left out of the average, as GDAL's "average" does) into its
own file; GDAL's COG driver then writes the COG from a VRT that names those levels as its overviews,
compressing with every core. Every pass streams in bounded windows and GDAL's block cache is
capped, so memory does not grow with the scene (``bench/scenes.py --export-only`` measures it);
the temporary files need about 2.7 bytes per pixel and band (4.2 GB for a 10980 px product).
``rio cogeo validate`` accepts both files (tested).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp
from rasterio.windows import Window
from rio_cogeo.utils import get_maximum_overview_level

from equicr.bands import S2_BANDS, S2_RGB_BANDS
from equicr.data.collection import open_collection, read_pixels
from equicr.data.scenes import scene_georeference
from equicr.decloud.output import OUTPUT_ARRAY, PROBABILITY_ARRAY, RECORD_ATTRIBUTE, DecloudError, is_complete
from equicr.scaling import OPTICAL_DN_MAX, OPTICAL_FILL_DN
from equicr.storage import atomic_output

#: Creation options of GDAL's COG driver for the exported files: deflate with the predictor that
#: suits the data type (horizontal differencing for DN: files about 17% smaller), the levels given.
COG_OPTIONS = {"compress": "DEFLATE", "predictor": "YES", "overviews": "FORCE_USE_EXISTING", "num_threads": "ALL_CPUS"}
#: Internal tile side of the COG (and of each overview level), in pixels.
COG_BLOCK = 256
#: Block side of the intermediate GeoTIFFs, in pixels (GeoTIFF tiles are multiples of 16); the Zarr
#: array is read chunk by chunk, whatever its chunk size, so each chunk is decoded once.
STAGING_BLOCK = 512
#: Side of the window an overview level is averaged from, in pixels of the level above (even).
OVERVIEW_WINDOW = 2048
#: GDAL's block cache while writing, in MB: every pass streams, so this bounds the export's memory.
GDAL_CACHE_MB = 256
#: GDAL's VRT names of the data types exported.
VRT_TYPES = {"uint16": "UInt16", "float32": "Float32"}


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
    """Write the cloud probability the post-processing used as a one-band float32 COG (nodata NaN)."""
    collection = open_collection(collection_path, "scenes")
    scene = collection["scenes"][scene_name]
    if not is_complete(scene) or PROBABILITY_ARRAY not in scene:
        raise DecloudError(
            f"scene {scene_name} has no complete cloud probability (it was declouded with --postprocessing raw)"
        )
    array = scene[PROBABILITY_ARRAY]
    resolution = scene.attrs[RECORD_ATTRIBUTE].get("cloud_resolution_m")
    return _write_cog(array, scene_georeference(collection, scene_name), out, float("nan"), ["cloud_probability"],
                      1.0, [ColorInterp.gray], {"s2cloudless_resolution_m": str(resolution)})  # fmt: skip


def _write_cog(array, geo, out, nodata, descriptions, scale, colours, tags) -> Path:
    single = array.ndim == 2
    count, (height, width) = (1 if single else array.shape[0]), array.shape[-2:]
    profile = {
        "driver": "GTiff", "count": count, "dtype": str(array.dtype), "crs": geo.crs, "nodata": nodata,
        "tiled": True, "blockxsize": STAGING_BLOCK, "blockysize": STAGING_BLOCK,
    }  # fmt: skip
    transform = rasterio.Affine(*geo.transform)
    # Every pass (level writes included: GDAL caches written blocks too) under one capped block cache.
    with tempfile.TemporaryDirectory(prefix="equicr-cog-") as folder, rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        levels = [Path(folder) / "level0.tif"]
        with rasterio.open(levels[0], "w", width=width, height=height, transform=transform, **profile) as dataset:
            chunk_rows, chunk_cols = array.chunks[-2:]
            for top in range(0, height, chunk_rows):
                for left in range(0, width, chunk_cols):
                    rows, cols = slice(top, min(top + chunk_rows, height)), slice(left, min(left + chunk_cols, width))
                    selection = (rows, cols) if single else (slice(None), rows, cols)
                    block = read_pixels(array, selection, f"rows {top}:{rows.stop}, cols {left}:{cols.stop}")
                    window = Window(left, top, cols.stop - left, rows.stop - top)
                    dataset.write(block[None] if single else block, window=window)
        for level in range(1, get_maximum_overview_level(width, height, COG_BLOCK) + 1):
            levels.append(_halve(levels[-1], Path(folder) / f"level{level}.tif", nodata, profile))
        vrt = Path(folder) / "levels.vrt"
        vrt.write_text(_levels_vrt(levels, geo, nodata, descriptions, scale, colours, tags))
        with atomic_output(out) as temporary:
            rasterio.shutil.copy(vrt, temporary, driver="COG", blocksize=COG_BLOCK, **COG_OPTIONS)
    return Path(out)


def average_2x2(block: np.ndarray, nodata: float) -> np.ndarray:
    """A (bands, H, W) block halved: each 2x2 cell averaged over its pixels that hold data (else no-data).

    Odd edges count as cells of the pixels there are, as GDAL's "average" overviews do.
    """
    bands, height, width = block.shape
    missing = np.isnan if np.isnan(nodata) else (lambda values: values == nodata)
    if height % 2 or width % 2:
        padded = np.full((bands, height + height % 2, width + width % 2), nodata, block.dtype)
        padded[:, :height, :width] = block
        block = padded
    floating = np.issubdtype(block.dtype, np.floating)
    total = np.zeros((bands, block.shape[1] // 2, block.shape[2] // 2), np.float64 if floating else np.uint32)
    count = np.zeros(total.shape, np.uint8)
    for quad in (block[:, 0::2, 0::2], block[:, 1::2, 0::2], block[:, 0::2, 1::2], block[:, 1::2, 1::2]):
        valid = ~missing(quad)
        total += np.where(valid, quad, 0)
        count += valid
    mean = total / np.maximum(count, 1) if floating else (total + count // 2) // np.maximum(count, 1)
    return np.where(count > 0, mean, nodata).astype(block.dtype)


def _halve(source: Path, out: Path, nodata: float, profile: dict) -> Path:
    """The next overview level of the GeoTIFF ``source``: half its size, averaged window by window."""
    with rasterio.open(source) as level:
        height, width = level.height, level.width
        transform = level.transform @ rasterio.Affine.scale(2)
        size = {"width": -(-width // 2), "height": -(-height // 2)}
        with rasterio.open(out, "w", transform=transform, **size, **profile) as halved:
            for top in range(0, height, OVERVIEW_WINDOW):
                for left in range(0, width, OVERVIEW_WINDOW):
                    window = Window(left, top, min(OVERVIEW_WINDOW, width - left), min(OVERVIEW_WINDOW, height - top))
                    block = average_2x2(level.read(window=window), nodata)
                    halved.write(block, window=Window(left // 2, top // 2, block.shape[2], block.shape[1]))
    return out


def _levels_vrt(levels, geo, nodata, descriptions, scale, colours, tags) -> str:
    """A VRT of the full-resolution level whose bands name the other levels as their overviews."""
    with rasterio.open(levels[0]) as base:
        width, height, data_type = base.width, base.height, VRT_TYPES[base.dtypes[0]]
    crs = rasterio.crs.CRS.from_user_input(geo.crs).to_wkt() if geo.crs else ""
    transform = ", ".join(repr(float(v)) for v in rasterio.Affine(*geo.transform).to_gdal())
    bands = []
    for band, (description, colour) in enumerate(zip(descriptions, colours, strict=True), start=1):
        sources = "".join(
            f'<Overview><SourceFilename relativeToVRT="0">{escape(str(level))}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand></Overview>"
            for level in levels[1:]
        )
        bands.append(
            f'<VRTRasterBand dataType="{data_type}" band="{band}"><Description>{escape(description)}</Description>'
            f"<ColorInterp>{colour.name.capitalize()}</ColorInterp><NoDataValue>{nodata}</NoDataValue>"
            f"<Offset>0</Offset><Scale>{scale!r}</Scale>"
            f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(str(levels[0]))}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand></SimpleSource>{sources}</VRTRasterBand>"
        )
    metadata = "".join(f"<MDI key={quoteattr(key)}>{escape(str(value))}</MDI>" for key, value in tags.items())
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{escape(crs)}</SRS>'
        f"<GeoTransform>{transform}</GeoTransform><Metadata>{metadata}</Metadata>{''.join(bands)}</VRTDataset>"
    )


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
