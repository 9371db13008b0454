"""The STAC item beside each declouded COG: what GIS tools and STAC clients need, valid against STAC's schema."""

import json
import shutil

import pystac
import rasterio
from pystac.extensions.eo import EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from pystac.validation import validate_dict

from equicr.bands import S2_BANDS
from equicr.decloud.geotiff import export_scene
from equicr.decloud.pipeline import run_decloud
from equicr.decloud.settings import DecloudSettings
from equicr.decloud.stac_item import PROCESSING_EXTENSION
from equicr.executors import ActorPool
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.paths import SHIPPED_MODEL


def test_the_item_describes_projection_bands_and_provenance_and_validates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the user names the model by a relative path, as on a command line
    (tmp_path / "models").mkdir()
    shutil.copy(SHIPPED_MODEL, tmp_path / "models" / "mine.pt")
    write_synthetic_scenes("scenes.zarr", [(70, 90)], seed=3)
    settings = DecloudSettings(tile_size=64, precision="fp32")
    run_decloud("scenes.zarr", "models/mine.pt", settings, pool=ActorPool(use_ray=False), progress=False)
    written = export_scene("scenes.zarr", "scene_0", tmp_path / "out", with_probability=True)
    document = json.loads(next(p for p in written if p.suffix == ".json").read_text())

    assert validate_dict(document, extensions=[])  # STAC's item schema, from pystac's own copy: no network
    item = pystac.Item.from_dict(document)
    for extension in (ProjectionExtension, EOExtension, RasterExtension):
        assert extension.has_extension(item), extension
    assert PROCESSING_EXTENSION in item.stac_extensions and "equicr" in item.properties["processing:software"]

    projection = ProjectionExtension.ext(item)
    with rasterio.open(tmp_path / "out" / "scene_0.tif") as cog:
        assert projection.code == f"EPSG:{cog.crs.to_epsg()}" == "EPSG:32632"
        assert projection.wkt2.startswith("PROJCRS[")  # WKT2, not GDAL's WKT1 ("PROJCS[")
        assert rasterio.crs.CRS.from_wkt(projection.wkt2) == cog.crs
        assert projection.shape == [cog.height, cog.width] and projection.transform == list(cog.transform)[:6]
        nodata, scales, offsets = cog.nodata, cog.scales, cog.offsets

    data = item.assets["decloud"]
    assert [band.name for band in EOExtension.ext(data).bands] == list(S2_BANDS)
    assert EOExtension.ext(data).bands[3].common_name == "red" and EOExtension.ext(data).bands[3].center_wavelength
    raster = RasterExtension.ext(data).bands
    assert len(raster) == 13 and {band.data_type for band in raster} == {"uint16"}
    assert [band.nodata for band in raster] == [nodata] * 13 == [0] * 13  # the item says what the COG says
    assert [band.scale for band in raster] == list(scales) and [band.offset for band in raster] == list(offsets)
    assert RasterExtension.ext(item.assets["cloud_probability"]).bands[0].nodata == "nan"

    assert item.properties["equicr:model"] == "models/mine.pt"  # as given, not this machine's absolute path
    assert str(tmp_path) not in json.dumps(document)
