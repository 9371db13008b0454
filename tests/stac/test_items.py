"""Sentinel STAC items: band lookup, Level-2A refusal, radiometric offset sources, S1 units, pairing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pystac
import pytest

from equicr.bands import S2_BANDS
from equicr.stac.catalog import CatalogError, parse_interval
from equicr.stac.items import S2_COMMON_NAMES, StacItemError, radiometric_offset, s1_source, s2_source, sensor
from equicr.stac.pairing import pair_items

WHEN = datetime(2022, 3, 1, 10, tzinfo=UTC)
SQUARE = {"type": "Polygon", "coordinates": [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]}


def s2_item(item_id="s2", properties=None, keys=S2_BANDS, extra=None, when=WHEN, geometry=SQUARE) -> pystac.Item:
    item = pystac.Item(item_id, geometry, None, when, {"platform": "sentinel-2a", **(properties or {})})
    for key in keys:
        item.add_asset(key, pystac.Asset(f"/data/{item_id}/{key}.tif", extra_fields=dict(extra or {})))
    return item


def s1_item(item_id, when, geometry=SQUARE, unit=None) -> pystac.Item:
    item = pystac.Item(item_id, geometry, None, when, {"constellation": "sentinel-1"})
    extra = {"raster:bands": [{"unit": unit}]} if unit else {}
    for key in ("vv", "vh"):
        item.add_asset(key, pystac.Asset(f"/data/{item_id}/{key}.tif", extra_fields=extra))
    return item


def test_bands_are_found_by_name_by_common_name_or_eo_bands():
    assert list(s2_source(s2_item()).hrefs) == list(S2_BANDS)
    assert s2_source(s2_item(keys=list(S2_COMMON_NAMES))).hrefs["B8A"].endswith("nir08.tif")
    assert sensor(s2_item()) == "s2" and sensor(s1_item("a", WHEN)) == "s1"


@pytest.mark.parametrize("properties", [{"processing:level": "L2A"}, {"s2:product_type": "S2MSI2A"}])
def test_level_2a_is_refused_with_the_reason(properties):
    with pytest.raises(StacItemError, match="item s2 is Sentinel-2 Level-2A.*the model needs Level-1C"):
        s2_source(s2_item(properties=properties))


def test_the_offset_comes_from_raster_bands_then_product_metadata_then_the_baseline(tmp_path):
    with_raster = s2_item(extra={"raster:bands": [{"offset": -0.1, "scale": 0.0001}]})
    assert radiometric_offset(with_raster, "05.10") == (1000, "raster:bands offset/scale of the band assets")
    metadata = tmp_path / "MTD_MSIL1C.xml"
    metadata.write_text(
        "<root><Radiometric_Offset_List>"
        + "".join(f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(13))
        + "</Radiometric_Offset_List></root>"
    )
    with_metadata = s2_item()
    with_metadata.add_asset("product_metadata", pystac.Asset(str(metadata)))
    assert radiometric_offset(with_metadata, "04.00")[0] == 1000
    assert radiometric_offset(s2_item(), "04.00") == (
        1000,
        "processing baseline 04.00 (04.00 and later carry +1000 DN)",
    )
    assert radiometric_offset(s2_item(), "02.09")[0] == 0
    disagreeing = s2_item()
    disagreeing.assets["B01"].extra_fields["raster:bands"] = [{"offset": -0.2, "scale": 0.0001}]
    disagreeing.assets["B02"].extra_fields["raster:bands"] = [{"offset": -0.1, "scale": 0.0001}]
    with pytest.raises(StacItemError, match="different radiometric offsets"):
        radiometric_offset(disagreeing, None)


def test_s1_units_and_missing_polarisations():
    assert s1_source(s1_item("a", WHEN)).declared_units is None  # undeclared: the pixels decide (check_assets)
    assert s1_source(s1_item("b", WHEN, unit="dB")).declared_units == "dB"
    assert s1_source(s1_item("c", WHEN, unit="linear")).declared_units == "linear"
    item = s1_item("c", WHEN)
    del item.assets["vh"]
    with pytest.raises(StacItemError, match=r"item c: no data asset for polarisation\(s\) \['VH'\]"):
        s1_source(item)


def test_pairing_takes_the_nearest_covering_acquisition_within_max_days():
    half = {"type": "Polygon", "coordinates": [[(0, 0), (0.5, 0), (0.5, 1), (0, 1), (0, 0)]]}
    s1s = [
        s1_item("near-but-partial", WHEN + timedelta(hours=2), geometry=half),
        s1_item("one-day", WHEN - timedelta(days=1)),
        s1_item("two-days", WHEN + timedelta(days=2)),
    ]
    (pair,) = pair_items([s2_item()], s1s, max_days=3)
    assert pair.s1.id == "one-day"
    (pair,) = pair_items([s2_item()], s1s, max_days=0.5)
    assert pair.s1 is None and "within 0.5 days" in pair.reason


def test_datetime_filters_parse_instants_and_open_intervals():
    start, stop = parse_interval("2022-01-01/..")
    assert start == datetime(2022, 1, 1, tzinfo=UTC) and stop is None
    with pytest.raises(CatalogError, match="not an ISO 8601"):
        parse_interval("yesterday")
