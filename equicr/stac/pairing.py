"""Pair each Sentinel-2 item with the nearest Sentinel-1 acquisition that covers it.

Footprints are the items' GeoJSON geometries (WGS84, as STAC requires), else their bounding
boxes; "covers" means at least :data:`MIN_S1_COVER` of the S2 footprint's area lies inside the S1
footprint. Among those within ``max_days``, the nearest in time wins (ties: the larger cover).
"""

from __future__ import annotations

from dataclasses import dataclass

import pystac
from shapely.geometry import box, shape

from equicr.errors import UserError
from equicr.stac.items import item_time

#: Share of the S2 footprint an S1 footprint must cover to be paired with it.
MIN_S1_COVER = 0.99


@dataclass(frozen=True)
class Pair:
    """One S2 item, its S1 partner (None when unpaired) and, if unpaired, why."""

    s2: pystac.Item
    s1: pystac.Item | None
    reason: str = ""


def footprint(item: pystac.Item):
    """The item's footprint as a shapely geometry in lon/lat."""
    if item.geometry:
        return shape(item.geometry)
    if item.bbox:
        return box(*item.bbox[:2], *item.bbox[-2:]) if len(item.bbox) == 4 else box(*item.bbox[:2], *item.bbox[3:5])
    raise UserError(f"item {item.id} has neither geometry nor bbox")


def pair_items(s2_items: list[pystac.Item], s1_items: list[pystac.Item], max_days: float) -> list[Pair]:
    """Every S2 item with its nearest covering S1 item within ``max_days``, or None and the reason."""
    pairs = []
    for s2 in s2_items:
        area, when = footprint(s2), item_time(s2)
        candidates = []
        for s1 in s1_items:
            days = abs((item_time(s1) - when).total_seconds()) / 86400
            cover = footprint(s1).intersection(area).area / area.area if area.area else 0.0
            if days <= max_days and cover >= MIN_S1_COVER:
                candidates.append((days, -cover, s1.id, s1))
        if candidates:
            pairs.append(Pair(s2, min(candidates, key=lambda c: c[:3])[3]))
        else:
            pairs.append(Pair(s2, None, f"no Sentinel-1 item covers it within {max_days:g} days"))
    return pairs
