"""A STAC item per declouded scene, written with pystac beside its COG, so outputs can be catalogued.

The item carries the scene's footprint (lon/lat) and acquisition time (the source S2 item's), the
projection extension (``proj:code`` where the CRS has an EPSG code, WKT2, transform, shape), the
COG (and the cloud probability, when exported) as assets whose bands are described by the eo
extension (names, common names, centre wavelengths) and the raster extension (nodata, data type,
scale and offset from DN to reflectance, resolution), and the provenance in the processing
extension and ``equicr:`` fields: the model's location as the user gave it (credentials removed)
and SHA-256, architecture, group and input mode, and the source S2 and S1 items.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pystac
import rasterio
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from rasterio.warp import transform_geom

from equicr.bands import S2_BANDS, S2_WAVELENGTH_NM
from equicr.data.collection import open_collection
from equicr.data.scenes import scene_georeference
from equicr.decloud.output import RECORD_ATTRIBUTE
from equicr.scaling import OPTICAL_DN_MAX, OPTICAL_FILL_DN
from equicr.stac.items import S2_COMMON_NAMES
from equicr.storage import write_json

#: The processing extension, whose ``processing:software`` field the items use.
PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
#: STAC's common name of each Sentinel-2 band.
COMMON_NAME = {band: name for name, band in S2_COMMON_NAMES.items()}


def describe_bands(asset: pystac.Asset, resolution_m: float) -> None:
    """The 13 declouded bands of a COG asset: eo (name, common name, wavelength) and raster (nodata, scale)."""
    EOExtension.ext(asset, add_if_missing=True).bands = [
        Band.create(name=band, common_name=COMMON_NAME[band], center_wavelength=S2_WAVELENGTH_NM[band] / 1000)
        for band in S2_BANDS
    ]
    RasterExtension.ext(asset, add_if_missing=True).bands = [
        RasterBand.create(nodata=OPTICAL_FILL_DN, data_type=DataType.UINT16, scale=1 / OPTICAL_DN_MAX, offset=0.0,
                          spatial_resolution=resolution_m)
        for _ in S2_BANDS
    ]  # fmt: skip


def scene_item(collection_path: str | Path, scene_name: str, cog: str, probability: str | None = None) -> pystac.Item:
    """The STAC item of a declouded scene whose COG lies at ``cog`` (hrefs are kept as given)."""
    collection = open_collection(collection_path, "scenes")
    scene = collection["scenes"][scene_name]
    geo = scene_georeference(collection, scene_name)
    _, height, width = scene["s2_cloudy"].shape
    transform = rasterio.Affine(*geo.transform)
    left, bottom, right, top = rasterio.transform.array_bounds(height, width, transform)
    ring = [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
    geometry = transform_geom(geo.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    xs, ys = zip(*geometry["coordinates"][0], strict=True)
    source = dict(scene.attrs.get("source", {}))
    record = scene.attrs[RECORD_ATTRIBUTE]
    config = record.get("model_config") or {}
    when = source.get("s2_datetime")
    properties = {
        "equicr:model": record.get("model"), "equicr:model_sha256": record.get("model_sha256"),
        "equicr:architecture": config.get("architecture"), "equicr:group": config.get("group"),
        "equicr:input_mode": config.get("input_mode"), "equicr:tile_size": record.get("tile_size"),
        "equicr:postprocessing": record.get("postprocessing"),
        "equicr:source_items": [item for item in (source.get("s2_item"), source.get("s1_item")) if item],
        "processing:software": {"equicr": version("equicr")},
    }  # fmt: skip
    item = pystac.Item(
        scene_name, geometry, [min(xs), min(ys), max(xs), max(ys)],
        datetime.fromisoformat(when) if when else datetime.now(UTC), properties,
    )  # fmt: skip
    crs = rasterio.crs.CRS.from_user_input(geo.crs)
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = crs.to_epsg()
    if epsg is not None:
        projection.code = f"EPSG:{epsg}"
    projection.wkt2 = crs.to_wkt(version="WKT2_2019")
    projection.transform, projection.shape = list(geo.transform), [height, width]
    item.stac_extensions.append(PROCESSING_EXTENSION)
    decloud = pystac.Asset(cog, "cloud-free Sentinel-2 L1C DN (13 bands, scale 1e-4)", media_type=pystac.MediaType.COG,
                           roles=["data"])  # fmt: skip
    item.add_asset("decloud", decloud)
    describe_bands(decloud, abs(transform.a))
    if probability is not None:
        cloud = pystac.Asset(probability, "s2cloudless cloud probability", media_type=pystac.MediaType.COG,
                             roles=["data"])  # fmt: skip
        item.add_asset("cloud_probability", cloud)
        RasterExtension.ext(cloud, add_if_missing=True).bands = [
            RasterBand.create(nodata="nan", data_type=DataType.FLOAT32, unit="probability")
        ]
    return item


def write_scene_item(collection_path: str | Path, scene_name: str, folder: Path, probability: bool = False) -> Path:
    """Write ``<scene>.json`` into ``folder`` beside ``<scene>.tif`` (and its probability COG), hrefs relative."""
    cog = f"./{scene_name}.tif"
    item = scene_item(
        collection_path, scene_name, cog, f"./{scene_name}_cloud_probability.tif" if probability else None
    )
    path = Path(folder) / f"{scene_name}.json"
    write_json(path, item.to_dict(include_self_link=False, transform_hrefs=False))
    return path
