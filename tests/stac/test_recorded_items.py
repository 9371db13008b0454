"""Sentinel items in the shapes real APIs serve (tests/fixtures/stac_items), ingested from two sources or refused.

The items' data assets point at real pixels (tests/fixtures/recorded_items.py): a land crop of the
real Virginia L1C product at native resolutions and a real Sentinel-1 patch placed over it.
Tolerances: 10 m bands exact (lossless JPEG 2000); 20 m and 60 m bands, brought to 10 m
bilinearly by ingest's warped reads, within 0.5 DN (the rounding to integer DN) everywhere of the
native band resampled bilinearly by rasterio's ``reproject``; Sentinel-1, whose grid is the S2 grid shifted
by whole pixels, within 1e-3 dB of the real patch (exact up to the linear/dB round trip).
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

from equicr.bands import S2_BANDS, S2_NATIVE_RESOLUTION_M
from equicr.commands.ingest import main as ingest_main
from equicr.data.collection import open_collection
from equicr.ingest.stac import ingest_stac, plan_scenes
from equicr.stac import access
from equicr.stac.catalog import CatalogSource
from equicr.stac.items import StacItemError, s1_product, s1_source
from tests.fixtures.recorded_items import (
    CROP_SIZE,
    GRD_ITEM,
    NRB_ITEM,
    RTC_ITEM,
    S1_EDGE,
    S1_MARGIN,
    S2_ITEM,
    real_s1_db,
    recorded_item,
    virginia_crop,
    write_recorded_items,
    write_static_catalog,
)  # fmt: skip
from tests.fixtures.stac_api import serve_items

MAX_ROUNDING_DN = 0.5
MAX_S1_ERROR_DB = 1e-3
BBOX = ["-75.75", "37.65", "-75.70", "37.70"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return write_recorded_items(tmp_path_factory.mktemp("recorded"))


def scene_of(out, name):
    return open_collection(out, "scenes")["scenes"][name]


def assert_s2_is_the_virginia_crop(scene):
    stored = scene["s2_cloudy"][:].astype(np.float64)
    assert stored.shape == (len(S2_BANDS), CROP_SIZE, CROP_SIZE) and scene["s2_cloudy_valid"][:].all()
    for index, band in enumerate(S2_BANDS):
        native, transform, crs = virginia_crop(band)
        if S2_NATIVE_RESOLUTION_M[band] == 10:
            np.testing.assert_array_equal(stored[index], native, err_msg=band)
            continue
        upsampled = np.zeros((CROP_SIZE, CROP_SIZE), np.float64)
        reproject(native.astype(np.float64), upsampled, src_transform=transform, src_crs=crs,
                  dst_transform=rasterio.Affine(*scene.attrs["transform"]), dst_crs=crs,
                  resampling=Resampling.bilinear)  # fmt: skip
        error = np.abs(stored[index] - upsampled).max()
        assert error <= MAX_ROUNDING_DN, f"{band}: off by up to {error} DN"


def assert_s1_is_the_real_patch(scene):
    real = real_s1_db()[:, S1_MARGIN : S1_MARGIN + CROP_SIZE, S1_MARGIN : S1_MARGIN + CROP_SIZE]
    valid = scene["s1_valid"][:]
    edge = S1_EDGE - S1_MARGIN  # the S1 files' no-data columns that fall inside the scene
    assert not valid[:, :edge].any()
    both = valid & np.isfinite(real).all(axis=0)
    assert both[:, edge:].mean() > 0.99
    assert np.abs(scene["s1"][:][:, both] - real[:, both]).max() < MAX_S1_ERROR_DB


def test_earth_search_l1c_and_planetary_computer_rtc_from_two_apis_are_paired_and_ingested(recorded, tmp_path):
    """The docstring's Earth Search + Planetary Computer pairing, through the command, each API searched apart."""
    out = tmp_path / "scenes.zarr"
    with serve_items([recorded[S2_ITEM]]) as (optical_api, _), serve_items(
        [recorded[RTC_ITEM], recorded[GRD_ITEM]]
    ) as (sar_api, sar_queries):  # fmt: skip
        code = ingest_main([
            "stac", "--catalog", optical_api, "--collections", "sentinel-2-l1c", "--datetime", "2016-01-01/2016-01-31",
            "--sar-catalog", sar_api, "--sar-collections", "sentinel-1-rtc", "--sar-sign", "planetary-computer",
            "--bbox", *BBOX, "--out", str(out),
        ])  # fmt: skip
    assert code == 0
    assert sar_queries[0]["collections"] == ["sentinel-1-rtc"]
    assert sar_queries[0]["datetime"].startswith("2015-12-29") and "2016-02-03" in sar_queries[0]["datetime"]
    scene = scene_of(out, "S2A_18SVG_20160112_0_L1C")
    assert_s2_is_the_virginia_crop(scene)
    assert_s1_is_the_real_patch(scene)
    source = scene.attrs["source"]
    assert source["catalog"] == optical_api and source["sar_catalog"] == sar_api
    assert source["s1_item"].endswith("_rtc") and source["s1_product"] == "RTC"
    assert source["s1_units"] == "linear power, converted to dB" and source["radiometric_offset_removed_dn"] == 0


def test_another_providers_rtc_is_found_by_polarisation_and_its_declared_nodata_is_kept(recorded, tmp_path):
    item = recorded[NRB_ITEM]
    s1 = s1_source(item)
    assert s1.hrefs["VV"].endswith("VV_gamma0.tif") and s1.hrefs["VH"].endswith("VH_gamma0.tif")
    assert s1.product == "RTC" and s1.declared_units == "dB" and s1.nodata == {"VV": -9999.0, "VH": -9999.0}
    catalog = write_static_catalog([recorded[S2_ITEM], item], tmp_path / "catalog")
    report = ingest_stac(str(catalog), str(tmp_path / "scenes.zarr"), progress=False)
    assert report.failures == [] and report.written == 1
    assert_s1_is_the_real_patch(scene_of(tmp_path / "scenes.zarr", "S2A_18SVG_20160112_0_L1C"))


def test_a_grd_item_in_radar_geometry_is_refused_with_the_product_that_would_do(recorded, tmp_path):
    grd = recorded[GRD_ITEM]
    source = s1_source(grd)  # VV and VH by eo:bands; the schema-*-vv metadata assets are left out by role
    assert source.product == "GRD" and source.hrefs["VV"].endswith("grd/iw-vv.tiff")
    optical = write_static_catalog([recorded[S2_ITEM]], tmp_path / "optical")
    sar = write_static_catalog([grd], tmp_path / "sar")
    plans, failures, _ = plan_scenes(str(optical), sar=str(sar))
    assert plans == [] and len(failures) == 1
    assert f"item {grd.id}, asset VV" in failures[0]
    assert "radar geometry, georeferenced only by 25 ground control points" in failures[0]
    assert "this is Sentinel-1 GRD" in failures[0] and "RTC, e.g. Planetary Computer's sentinel-1-rtc" in failures[0]


def test_grd_on_a_map_grid_but_uncalibrated_is_refused_by_its_data_type(recorded, tmp_path):
    grd = recorded[GRD_ITEM].clone()
    for key in ("vv", "vh"):  # the same amplitude, geocoded but still integer DN
        with rasterio.open(grd.assets[key].href) as amplitude:
            data = amplitude.read(1)
        with rasterio.open(recorded[RTC_ITEM].assets[key].href) as rtc:
            profile = rtc.profile | {"dtype": "uint16", "nodata": None}
        grd.assets[key].href = str(tmp_path / f"{key}.tif")
        with rasterio.open(grd.assets[key].href, "w", **profile) as out:
            out.write(data, 1)
    plans, failures, _ = plan_scenes(
        str(write_static_catalog([recorded[S2_ITEM]], tmp_path / "optical")),
        sar=str(write_static_catalog([grd], tmp_path / "sar")),
    )  # fmt: skip
    assert plans == [] and "data type uint16, amplitude DN rather than calibrated backscatter" in failures[0]
    assert "this is Sentinel-1 GRD" in failures[0]


def test_products_that_are_not_vv_vh_backscatter_are_refused_with_what_would_do():
    rtc = recorded_item(RTC_ITEM)
    assert s1_product(rtc) == "RTC" and s1_product(recorded_item(GRD_ITEM)) == "GRD"
    assert s1_product(recorded_item(NRB_ITEM)) == "RTC"
    dual_h = rtc.clone()
    dual_h.properties["sar:polarizations"] = ["HH", "HV"]
    with pytest.raises(StacItemError, match=r"holds HH\+HV \(sar:polarizations\); the model reads VV\+VH"):
        s1_source(dual_h)
    slc = recorded_item(GRD_ITEM)
    slc.id, slc.collection_id = "S1A_IW_SLC__1SDV_20160113T230112", "sentinel-1-slc"
    slc.properties["sar:product_type"] = "SLC"
    with pytest.raises(StacItemError, match="this is Sentinel-1 SLC; the model reads calibrated, terrain-corrected"):
        s1_source(slc)
    unnamed = rtc.clone()
    unnamed.assets["band_1"] = unnamed.assets.pop("vh")
    with pytest.raises(StacItemError, match=r"no data asset for polarisation\(s\) \['VH'\].*RTC, e.g."):
        s1_source(unnamed)


@pytest.fixture
def fresh_token(monkeypatch):
    """A Planetary Computer SAS token in the package's cache, as its token endpoint would give (no network)."""
    from datetime import UTC, datetime, timedelta

    import planetary_computer
    from planetary_computer import sas

    token = sas.SASToken(token="sv=2026&se=fresh&sig=FRESH", expiry=datetime.now(UTC) + timedelta(hours=1))
    key = f"{planetary_computer.settings.Settings.get().sas_url}/sentinel1euwestrtc/sentinel1-grd-rtc"
    monkeypatch.setitem(sas.TOKEN_CACHE, key, token)
    return token


def test_planetary_computer_links_are_signed_afresh_at_open_and_never_kept(fresh_token):
    assert access.resolve_signing("https://planetarycomputer.microsoft.com/api/stac/v1") == "planetary-computer"
    assert access.resolve_signing("https://earth-search.aws.element84.com/v1") is None
    assert access.resolve_signing("https://planetarycomputer.microsoft.com/api/stac/v1", "none") is None
    import planetary_computer

    assert access.search_modifier("planetary-computer") is planetary_computer.sign_inplace
    rtc = recorded_item(RTC_ITEM)
    planetary_computer.sign_inplace(rtc)  # as pystac-client's modifier signs a search's items
    assert "sig=FRESH" in rtc.assets["vv"].href
    rtc.assets["vv"].href = rtc.assets["vv"].href.replace("FRESH", "EXPIRED")  # a token that has run out since
    source = s1_source(rtc, "planetary-computer")
    assert "?" not in source.hrefs["VV"]  # what records, logs and errors see
    opened = access.signed(source.hrefs["VV"], source.signing)
    assert opened.startswith(source.hrefs["VV"] + "?") and "sig=FRESH" in opened and "EXPIRED" not in opened
    assert access.signed("/data/vv.tif", "planetary-computer") == "/data/vv.tif"


def test_requester_pays_follows_the_usual_aws_setting(monkeypatch, tmp_path):
    from equicr.stac.reading import gdal_environment

    monkeypatch.delenv("AWS_REQUEST_PAYER", raising=False)
    with gdal_environment():
        assert rasterio.env.getenv().get("AWS_REQUEST_PAYER") is None
    assert access.open_binary("s3://sentinel-s2-l1c/tiles/x/metadata.xml").fs.req_kw == {}
    monkeypatch.setenv("AWS_REQUEST_PAYER", "requester")
    with gdal_environment():
        assert rasterio.env.getenv()["AWS_REQUEST_PAYER"] == "requester"
    assert access.open_binary("s3://sentinel-s2-l1c/tiles/x/metadata.xml").fs.req_kw == {"RequestPayer": "requester"}
    local = tmp_path / "MTD_TL.xml"
    local.write_text("<x/>")
    with access.open_binary(str(local)) as file:
        assert file.read() == b"<x/>"


def test_the_sar_catalog_of_an_api_needs_its_collections(capsys):
    code = ingest_main([
        "stac", "--catalog", "catalog.json", "--sar-catalog", "https://planetarycomputer.microsoft.com/api/stac/v1",
        "--out", "unused.zarr",
    ])  # fmt: skip
    assert code == 2 and "--sar-collections" in capsys.readouterr().err


def test_the_sar_window_defaults_to_the_optical_one_widened_by_max_days():
    source = CatalogSource.of("catalog.json", interval="2016-01-01/2016-01-31").widened(3)
    assert source.interval == "2015-12-29T00:00:00Z/2016-02-03T00:00:00Z"
    assert CatalogSource.of("catalog.json", interval="2016-01-01/..").widened(3).interval.endswith("/..")
