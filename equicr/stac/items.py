"""Sentinel-2 L1C and Sentinel-1 STAC items, checked and reduced to what ingest reads.

An S2 item names its 13 band assets by band (``B01`` ... ``B12``, ``B8A``), by Earth Search's
common names (``coastal`` ... ``swir22``) or in each asset's ``eo:bands``; an S1 item names ``vv`` and
``vh``. Everything a window reader needs travels in small picklable records (:class:`S2Source`,
:class:`S1Source`), so Ray tasks never see a pystac object. Every error names the item and asset.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime

import pystac

from equicr.bands import S1_BANDS, S2_BANDS
from equicr.errors import UserError
from equicr.scaling import SarUnits

#: Earth Search's asset keys for the Sentinel-2 bands.
S2_COMMON_NAMES: dict[str, str] = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05", "rededge2": "B06",
    "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09", "cirrus": "B10", "swir16": "B11",
    "swir22": "B12",
}  # fmt: skip
#: The band whose asset defines a scene's 10 m grid.
GRID_BAND = "B02"
#: From processing baseline 04.00 (25 January 2022) L1C DN carry this radiometric offset
#: (``RADIO_ADD_OFFSET`` -1000 in the product metadata); ingest removes it, so DN mean what the model
#: was trained on (reflectance x 10000). Used only when the item gives no offset of its own.
OFFSET_BASELINE = (4, 0)
BASELINE_OFFSET_DN = 1000
#: Units an S1 asset may declare in ``raster:bands`` ``unit`` for decibels. Any other declared unit
#: means linear power; none (Planetary Computer's ``sentinel-1-rtc``) leaves the measurement to decide.
DECIBEL_UNITS = ("db", "decibel", "decibels")


class StacItemError(UserError):
    """An item or one of its assets cannot be ingested; the message names both."""


@dataclass(frozen=True)
class S2Source:
    """What ingest reads of one Sentinel-2 L1C item: band asset hrefs in band order and the DN offset to remove."""

    item_id: str
    datetime: str
    hrefs: dict[str, str]
    offset_dn: int
    offset_source: str
    processing_baseline: str | None


@dataclass(frozen=True)
class S1Source:
    """What ingest reads of one Sentinel-1 item: VV and VH hrefs, the units the item declares and those measured.

    ``units`` is what the pixels hold, measured by :func:`equicr.stac.reading.check_assets` (the same
    test as for GeoTIFFs, :func:`equicr.scaling.measure_sar_units`), which refuses an item whose
    declared units disagree.
    """

    item_id: str
    datetime: str
    hrefs: dict[str, str]
    declared_units: SarUnits | None
    units: SarUnits | None = None


def item_time(item: pystac.Item) -> datetime:
    """The acquisition time of an item (its datetime, else the start of its range)."""
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise StacItemError(f"item {item.id}: has neither datetime nor start_datetime")
    return when


def sensor(item: pystac.Item) -> str | None:
    """'s2', 's1' or None, from the platform, constellation or collection of an item."""
    text = " ".join(
        str(value).lower()
        for value in (item.properties.get("platform"), item.properties.get("constellation"), item.collection_id)
        if value
    )
    if "sentinel-2" in text or "sentinel2" in text:
        return "s2"
    if "sentinel-1" in text or "sentinel1" in text:
        return "s1"
    return None


def _asset_band(key: str, asset: pystac.Asset) -> str | None:
    if key.upper() in S2_BANDS:
        return key.upper()
    if key.lower() in S2_COMMON_NAMES:
        return S2_COMMON_NAMES[key.lower()]
    names = [str(band.get("name", "")).upper() for band in asset.extra_fields.get("eo:bands", [])]
    return names[0] if len(names) == 1 and names[0] in S2_BANDS else None


def is_level_2a(item: pystac.Item) -> bool:
    """Whether an item is Level-2A (surface reflectance, 12 bands, no B10) by its metadata."""
    properties = item.properties
    level = str(properties.get("processing:level") or properties.get("s2:processing_level") or "").upper()
    product = str(properties.get("s2:product_type") or "").upper()
    return level in ("L2A", "LEVEL-2A") or product.endswith("2A") or "l2a" in str(item.collection_id or "").lower()


def s2_source(item: pystac.Item) -> S2Source:
    """The bands and harmonisation of a Sentinel-2 L1C item; Level-2A and missing bands are refused by name."""
    if is_level_2a(item):
        raise StacItemError(
            f"item {item.id} is Sentinel-2 Level-2A (12 bands, no B10, surface reflectance); the model needs "
            "Level-1C top-of-atmosphere DN with all 13 bands: search an L1C collection"
        )
    hrefs: dict[str, str] = {}
    for key, asset in item.assets.items():
        band = _asset_band(key, asset)
        if band is not None:
            hrefs.setdefault(band, asset.get_absolute_href() or asset.href)
    missing = [band for band in S2_BANDS if band not in hrefs]
    if missing:
        raise StacItemError(
            f"item {item.id}: no asset for band(s) {missing} (assets: {sorted(item.assets)}); "
            f"Level-1C needs all 13 bands {S2_BANDS}"
        )
    baseline = item.properties.get("s2:processing_baseline") or item.properties.get("processing:version")
    offset, source = radiometric_offset(item, baseline)
    return S2Source(item.id, item_time(item).isoformat(), {band: hrefs[band] for band in S2_BANDS}, offset, source,
                    None if baseline is None else str(baseline))  # fmt: skip


def radiometric_offset(item: pystac.Item, baseline: str | None) -> tuple[int, str]:
    """The DN offset to remove from an L1C item and where it was read.

    In order: the band assets' ``raster:bands`` ``offset`` and ``scale`` (offset -0.1 at scale 1e-4
    is 1000 DN), the ``RADIO_ADD_OFFSET`` of a ``product_metadata`` asset (MTD_MSIL1C.xml), and
    last the processing baseline (04.00 and later: ESA's documented 1000 DN). One offset for all
    bands; an item whose bands disagree is refused.
    """
    offsets = set()
    for key, asset in item.assets.items():
        if _asset_band(key, asset) is None:
            continue
        for band in asset.extra_fields.get("raster:bands", []):
            if band.get("offset") not in (None, 0):
                offsets.add(round(-float(band["offset"]) / float(band.get("scale", 1.0))))
    if len(offsets) > 1:
        raise StacItemError(f"item {item.id}: band assets give different radiometric offsets {sorted(offsets)} DN")
    if offsets:
        return offsets.pop(), "raster:bands offset/scale of the band assets"
    metadata = item.assets.get("product_metadata")
    if metadata is not None:
        found = _metadata_offset(item.id, metadata.get_absolute_href() or metadata.href)
        if found is not None:
            return found, "RADIO_ADD_OFFSET of the product_metadata asset"
    if baseline is not None and _baseline_tuple(item.id, str(baseline)) >= OFFSET_BASELINE:
        return BASELINE_OFFSET_DN, f"processing baseline {baseline} (04.00 and later carry +1000 DN)"
    return 0, "none: processing baseline before 04.00" if baseline else "none: no offset in the item's metadata"


def _baseline_tuple(item_id: str, baseline: str) -> tuple[int, int]:
    try:
        major, _, minor = baseline.partition(".")
        return int(major), int(minor or 0)
    except ValueError as error:
        raise StacItemError(f"item {item_id}: processing baseline {baseline!r} is not of the form NN.NN") from error


def _metadata_offset(item_id: str, href: str) -> int | None:
    import fsspec

    try:
        with fsspec.open(href, "rb") as file:
            root = ElementTree.parse(file).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise StacItemError(f"item {item_id}, asset product_metadata ({href}): cannot read it ({error})") from error
    offsets = {int(float(node.text)) for node in root.iter() if node.tag.endswith("RADIO_ADD_OFFSET") and node.text}
    if len(offsets) > 1:
        raise StacItemError(f"item {item_id}, asset product_metadata: band offsets differ {sorted(offsets)}")
    return -offsets.pop() if offsets else None


def s1_source(item: pystac.Item) -> S1Source:
    """The VV and VH assets of a Sentinel-1 item and their units; a missing polarisation is refused by name."""
    lowered = {key.lower(): asset for key, asset in item.assets.items()}
    missing = [band for band in S1_BANDS if band.lower() not in lowered]
    if missing:
        raise StacItemError(f"item {item.id}: no asset for polarisation(s) {missing} (assets: {sorted(item.assets)})")
    assets = {band: lowered[band.lower()] for band in S1_BANDS}
    units = {str((a.extra_fields.get("raster:bands") or [{}])[0].get("unit", "")).lower() for a in assets.values()}
    if len(units) > 1:
        raise StacItemError(f"item {item.id}: VV and VH assets declare different units {sorted(units)}")
    return S1Source(
        item.id, item_time(item).isoformat(), {band: a.get_absolute_href() or a.href for band, a in assets.items()},
        declared_units=_declared(units.pop()),
    )  # fmt: skip


def _declared(unit: str) -> SarUnits | None:
    if not unit:
        return None
    return "dB" if unit in DECIBEL_UNITS else "linear"
