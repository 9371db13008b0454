"""Sentinel-2 L1C and Sentinel-1 STAC items, checked and reduced to what ingest reads.

An S2 item names its 13 band assets by band (``B01`` ... ``B12``, ``B8A``), by Earth Search's
common names (``coastal`` ... ``swir22``) or in each asset's ``eo:bands``; an S1 item's VV and VH
assets are found by meaning (``sar:polarizations``, ``eo:bands``, roles, then keys such as ``vv`` or
``gamma0_vv``), and its kind of product (RTC, GRD, ...) is told from its properties. Everything a
window reader needs travels in small picklable records (:class:`S2Source`, :class:`S1Source`), so
Ray tasks never see a pystac object. Every error names the item and asset.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime

import pystac

from equicr.bands import S1_BANDS, S2_BANDS
from equicr.errors import UserError
from equicr.scaling import SarUnits
from equicr.stac.access import open_binary, unsigned

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
#: Sentinel-1 polarisations an asset may hold (the model reads VV and VH).
POLARISATIONS = ("VV", "VH", "HH", "HV")
#: ``sar:product_type`` values of terrain-corrected backscatter (RTC; CEOS-ARD normalised radar backscatter).
RTC_PRODUCT_TYPES = ("RTC", "NRB", "CARD-BS", "GRD-RTC")
#: Asset roles of backscatter conventions (CEOS-ARD/CARD4L); an asset with one holds backscatter.
BACKSCATTER_ROLES = frozenset({"backscatter", "gamma0", "sigma0", "beta0"})
#: Asset roles that mark what is not backscatter: metadata, masks, angles, previews.
NON_BACKSCATTER_ROLES = frozenset({"metadata", "thumbnail", "overview", "visual", "mask", "local-incidence-angle",
                                   "ellipsoid-incidence-angle", "noise-power", "gamma-sigma-ratio", "date-offset",
                                   "contributing-area", "snow-ice", "land-water"})  # fmt: skip


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
    signing: str | None = None


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
    product: str = "unknown"
    signing: str | None = None
    nodata: dict[str, float] = field(default_factory=dict)


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


def s2_source(item: pystac.Item, signing: str | None = None) -> S2Source:
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
            hrefs.setdefault(band, unsigned(asset.get_absolute_href() or asset.href, signing))
    missing = [band for band in S2_BANDS if band not in hrefs]
    if missing:
        raise StacItemError(
            f"item {item.id}: no asset for band(s) {missing} (assets: {sorted(item.assets)}); "
            f"Level-1C needs all 13 bands {S2_BANDS}"
        )
    baseline = item.properties.get("s2:processing_baseline") or item.properties.get("processing:version")
    offset, source = radiometric_offset(item, baseline, signing)
    return S2Source(item.id, item_time(item).isoformat(), {band: hrefs[band] for band in S2_BANDS}, offset, source,
                    None if baseline is None else str(baseline), signing)  # fmt: skip


def radiometric_offset(item: pystac.Item, baseline: str | None, signing: str | None = None) -> tuple[int, str]:
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
        found = _metadata_offset(item.id, unsigned(metadata.get_absolute_href() or metadata.href, signing), signing)
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


def _metadata_offset(item_id: str, href: str, signing: str | None) -> int | None:
    try:
        with open_binary(href, signing) as file:
            root = ElementTree.parse(file).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise StacItemError(f"item {item_id}, asset product_metadata ({href}): cannot read it ({error})") from error
    offsets = {int(float(node.text)) for node in root.iter() if node.tag.endswith("RADIO_ADD_OFFSET") and node.text}
    if len(offsets) > 1:
        raise StacItemError(f"item {item_id}, asset product_metadata: band offsets differ {sorted(offsets)}")
    return -offsets.pop() if offsets else None


def s1_product(item: pystac.Item) -> str:
    """The kind of Sentinel-1 product an item holds, from its properties: "RTC", "GRD", "SLC", "OCN" or "unknown".

    RTC (radiometrically terrain-corrected backscatter on a map grid) is what ingest reads. Its items
    say so in different ways: the collection (Planetary Computer's ``sentinel-1-rtc``, whose items
    keep ``sar:product_type: GRD`` and end their ids in ``_rtc``), ``sar:product_type`` (``RTC``,
    ``NRB``, ``CARD-BS``) or backscatter-convention roles on the data assets (``gamma0``, ``sigma0``).
    """
    collection = str(item.collection_id or "").lower()
    product = str(item.properties.get("sar:product_type") or "").upper()
    roles = {role.lower() for asset in item.assets.values() for role in (asset.roles or [])}
    if "rtc" in collection or item.id.lower().endswith("_rtc") or product in RTC_PRODUCT_TYPES:
        return "RTC"
    if roles & BACKSCATTER_ROLES:
        return "RTC"
    for kind in ("GRD", "SLC", "OCN"):
        if product.startswith(kind) or kind.lower() in collection or f"_{kind}" in item.id.upper():
            return kind
    return "unknown"


def s1_remedy(kind: str) -> str:
    """What a user can search for instead of a Sentinel-1 product of ``kind`` that ingest cannot read."""
    return (
        f"{'this is Sentinel-1 ' + kind + '; ' if kind != 'unknown' else ''}the model reads calibrated, "
        "terrain-corrected VV+VH backscatter on a map grid (RTC, e.g. Planetary Computer's sentinel-1-rtc), "
        "or GRD that you calibrated and terrain-corrected yourself (SNAP, pyroSAR, Google Earth Engine's S1_GRD)"
    )


def _polarisation(key: str, asset: pystac.Asset) -> str | None:
    """The one polarisation an asset holds: its ``sar:polarizations``, its ``eo:bands`` name, else its key."""
    declared = asset.extra_fields.get("sar:polarizations") or []
    if len(declared) == 1:
        return str(declared[0]).upper()
    names = [str(band.get("name", "")).upper() for band in asset.extra_fields.get("eo:bands", [])]
    if len(names) == 1 and names[0] in POLARISATIONS:
        return names[0]
    tokens = [token.upper() for token in re.split(r"[^A-Za-z0-9]+", key) if token]
    found = [token for token in tokens if token in POLARISATIONS]
    return found[0] if len(found) == 1 else None


def _is_backscatter(asset: pystac.Asset) -> bool:
    """Whether an asset holds measurements (roles ``data``/backscatter, or none given), not metadata or masks."""
    roles = {role.lower() for role in (asset.roles or [])}
    if not roles:
        return True
    return bool(roles & ({"data"} | BACKSCATTER_ROLES)) and not roles & NON_BACKSCATTER_ROLES


def s1_source(item: pystac.Item, signing: str | None = None) -> S1Source:
    """The VV and VH assets of a Sentinel-1 item and their units, found by meaning, not by key.

    Each data asset's polarisation comes from its ``sar:polarizations``, its ``eo:bands`` name, or
    else its key (``vv``, ``gamma0_vv``, ``VV``); metadata, mask and angle assets are left out by
    their roles. Refused by name: an item whose ``sar:polarizations`` lack VV or VH (HH+HV), a
    missing or ambiguous polarisation, and products that are not backscatter (SLC, OCN); each
    refusal says what product would do. GRD is told apart from RTC here (:func:`s1_product`) and
    refused when its pixels prove it is in radar geometry or uncalibrated
    (:func:`equicr.stac.reading.check_assets`).
    """
    kind = s1_product(item)
    if kind in ("SLC", "OCN"):
        raise StacItemError(f"item {item.id}: {s1_remedy(kind)}")
    declared = [str(p).upper() for p in item.properties.get("sar:polarizations") or []]
    if declared and not set(S1_BANDS) <= set(declared):
        raise StacItemError(
            f"item {item.id}: holds {'+'.join(declared)} (sar:polarizations); the model reads "
            f"{'+'.join(S1_BANDS)}, the dual polarisation Sentinel-1 acquires over most land: search VV+VH acquisitions"
        )
    found: dict[str, list[tuple[str, pystac.Asset]]] = {band: [] for band in S1_BANDS}
    for key, asset in item.assets.items():
        polarisation = _polarisation(key, asset) if _is_backscatter(asset) else None
        if polarisation in found:
            found[polarisation].append((key, asset))
    missing = [band for band in S1_BANDS if not found[band]]
    if missing:
        raise StacItemError(
            f"item {item.id}: no data asset for polarisation(s) {missing} by sar:polarizations, eo:bands or key "
            f"(assets: {sorted(item.assets)}); {s1_remedy(kind)}"
        )
    assets = {band: _one_asset(item.id, band, found[band]) for band in S1_BANDS}
    units = {str((a.extra_fields.get("raster:bands") or [{}])[0].get("unit", "")).lower() for a in assets.values()}
    if len(units) > 1:
        raise StacItemError(f"item {item.id}: VV and VH assets declare different units {sorted(units)}")
    nodata = {band: (a.extra_fields.get("raster:bands") or [{}])[0].get("nodata") for band, a in assets.items()}
    hrefs = {band: unsigned(a.get_absolute_href() or a.href, signing) for band, a in assets.items()}
    return S1Source(
        item.id, item_time(item).isoformat(), hrefs, declared_units=_declared(units.pop()), product=kind,
        signing=signing, nodata={band: float(value) for band, value in nodata.items() if value not in (None, "nan")},
    )  # fmt: skip


def _one_asset(item_id: str, band: str, candidates: list[tuple[str, pystac.Asset]]) -> pystac.Asset:
    """The asset of one polarisation; of several, the one of the RTC convention (gamma0), else refused by name."""
    if len(candidates) > 1:
        preferred = [c for c in candidates if "gamma0" in c[0].lower() or "gamma0" in (c[1].roles or [])]
        if len(preferred) != 1:
            raise StacItemError(
                f"item {item_id}: several data assets hold {band} ({sorted(key for key, _ in candidates)}) and "
                "none is marked gamma0; cannot tell which backscatter to read"
            )
        candidates = preferred
    return candidates[0][1]


def _declared(unit: str) -> SarUnits | None:
    if not unit:
        return None
    return "dB" if unit in DECIBEL_UNITS else "linear"
