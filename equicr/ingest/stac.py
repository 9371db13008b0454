"""Ingest a STAC catalog of Sentinel-2 L1C and Sentinel-1 items into a scenes collection, window by window.

The driver searches for Sentinel-2 items and for Sentinel-1 items (in one catalog, or each in its
own: Earth Search's L1C with Planetary Computer's RTC), pairs each S2 item with its nearest covering
S1 item, checks every asset's header, and creates each scene on its S2 item's 10 m grid with a record of the items and
assets it came from. The pixels are then read (:mod:`equicr.stac.reading`) and written by the one
scene writer (:mod:`equicr.ingest.scenes`) one chunk window at a time, in Ray tasks on whatever
cluster ``ray.init()`` joins or here; each window is marked done after its pixels and masks, so a
rerun redoes only unfinished windows and memory per task does not grow with the scene. A scene is
marked complete by the driver, only once every window is done; an item that fails is reported by
item and asset and never marked complete.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pystac
from tqdm import tqdm

from equicr.data.collection import HAS_SAR_ATTRIBUTE, CollectionError, check_item_name, open_collection
from equicr.data.scenes import chunk_windows, ingest_markers, scene_names
from equicr.executors import run_tasks
from equicr.ingest.report import IngestReport
from equicr.ingest.scenes import create_scene, create_scenes, finish_scene, write_scene_window
from equicr.lease import exclusive_writer
from equicr.stac import DEFAULT_MAX_DAYS
from equicr.stac.catalog import CatalogSource, find_items
from equicr.stac.items import S1Source, S2Source, StacItemError, s1_source, s2_source, sensor
from equicr.stac.pairing import pair_items
from equicr.stac.reading import RESAMPLING, Grid, check_assets, read_s1_window, read_s2_window, scene_grid
from equicr.storage import redact

#: Chunk windows handed to one task (each window is one 512 px chunk of all bands).
WINDOWS_PER_TASK = 8


@dataclass(frozen=True)
class ScenePlan:
    """One scene to ingest: its name, sources and grid (picklable, for Ray tasks)."""

    name: str
    s2: S2Source
    s1: S1Source | None
    grid: Grid

    def record(self, catalog: str, sar_catalog: str | None) -> dict:
        """Where the scene came from, stored in its ``source`` attribute."""
        record = {
            "catalog": redact(catalog), "sar_catalog": None if sar_catalog is None else redact(sar_catalog),
            "s2_item": self.s2.item_id, "s2_datetime": self.s2.datetime,
            "s2_assets": {band: redact(href) for band, href in self.s2.hrefs.items()},
            "processing_baseline": self.s2.processing_baseline, "radiometric_offset_removed_dn": self.s2.offset_dn,
            "radiometric_offset_source": self.s2.offset_source, "resampling": RESAMPLING.name,
            "s1_item": None, "s1_datetime": None, "s1_assets": None, "s1_units": None,
        }  # fmt: skip
        if self.s1 is not None:
            record |= {"s1_item": self.s1.item_id, "s1_datetime": self.s1.datetime, "s1_product": self.s1.product,
                       "s1_assets": {band: redact(href) for band, href in self.s1.hrefs.items()},
                       "s1_units": "linear power, converted to dB" if self.s1.units == "linear" else "dB"}  # fmt: skip
        return record


def ingest_windows(
    collection: str, plan: ScenePlan, windows: list[tuple[int, int, slice, slice]]
) -> tuple[str, int, str]:
    """Read, write and mark done each window of one scene; returns (scene, windows written, error or "")."""
    scene = open_collection(collection, "scenes", mode="r+")["scenes"][plan.name]
    written = 0
    try:
        for window in windows:
            _, _, rows, cols = window
            s2 = read_s2_window(plan.s2, plan.grid, rows, cols)
            s1 = read_s1_window(plan.s1, plan.grid, rows, cols) if plan.s1 is not None else None
            write_scene_window(scene, window, s1, s2)
            written += 1
    except StacItemError as error:
        return plan.name, written, str(error)
    return plan.name, written, ""


def plan_scenes(
    optical: CatalogSource | str, bbox=None, max_days: float = DEFAULT_MAX_DAYS, sar: CatalogSource | str | None = None,
    optical_only: bool = False,
) -> tuple[list[ScenePlan], list[str], list[str]]:  # fmt: skip
    """Search, pair and check: (scenes to ingest, failures by item and asset, notes on unpaired items).

    Sentinel-2 items come from ``optical``; Sentinel-1 items from ``sar``, by default the same catalog
    and collections with the time window widened by ``max_days`` (so an S2 item at the window's
    edge still finds its partner).
    """
    optical = optical if isinstance(optical, CatalogSource) else CatalogSource.of(optical)
    sar = (sar if isinstance(sar, CatalogSource) else CatalogSource.of(sar)) if sar else optical.widened(max_days)
    items = find_items(optical, bbox)
    s2_items = [item for item in items if sensor(item) == "s2"]
    failures = [f"item {item.id}: neither Sentinel-2 nor Sentinel-1 (platform, constellation and collection "
                "say neither); skipped" for item in items if sensor(item) is None]  # fmt: skip
    if not s2_items:
        raise StacItemError(f"{redact(optical.location)}: the search found {len(items)} item(s) but no Sentinel-2 item")
    s1_items = [item for item in find_items(sar, bbox, required=False) if sensor(item) == "s1"]
    notes = [] if s1_items else [f"{redact(sar.location)}: the Sentinel-1 search (collections {sar.collections}, "
                                 f"datetime {sar.interval}) found no Sentinel-1 item"]  # fmt: skip
    repeated = repeated_ids(s2_items + s1_items)
    failures += [f"item {item_id}: {count} items share this id (it names the scene); none of them is ingested"
                 for item_id, count in repeated.items()]  # fmt: skip
    s2_items = [item for item in s2_items if item.id not in repeated]
    s1_items = [item for item in s1_items if item.id not in repeated]
    plans = []
    for pair in pair_items(s2_items, s1_items, max_days):
        if pair.s1 is None and not optical_only:
            notes.append(
                f"item {pair.s2.id}: {pair.reason}; not ingested (pass --optical-only to ingest it without SAR)"
            )
            continue
        try:
            check_item_name(pair.s2.id)
            s2 = s2_source(pair.s2, optical.signing)
            s1 = s1_source(pair.s1, sar.signing) if pair.s1 is not None else None
            grid = scene_grid(s2)
            s1 = check_assets(s2, s1, grid)
        except (StacItemError, CollectionError) as error:
            failures.append(str(error))
            continue
        if pair.s1 is None:
            notes.append(f"item {pair.s2.id}: {pair.reason}; ingested optical-only (has_sar: false)")
        plans.append(ScenePlan(pair.s2.id, s2, s1, grid))
    return plans, failures, notes


def repeated_ids(items: list[pystac.Item]) -> dict[str, int]:
    """Item ids that more than one item carries, with their counts: an id names a scene, so it must be unique."""
    counts = Counter(item.id for item in items)
    return {item_id: count for item_id, count in counts.items() if count > 1}


def ingest_stac(
    optical: CatalogSource | str, out: str, bbox=None, max_days: float = DEFAULT_MAX_DAYS,
    sar: CatalogSource | str | None = None, optical_only: bool = False, use_ray: bool = False, progress: bool = True,
) -> IngestReport:  # fmt: skip
    """Ingest the S2 L1C items of ``optical`` (with their S1 partners from ``sar``) as scenes of ``out``; resumable.

    ``optical`` and ``sar`` are catalog locations or :class:`~equicr.stac.catalog.CatalogSource`s;
    without ``sar``, Sentinel-1 is searched in the optical catalog (see :func:`plan_scenes`).
    """
    optical = optical if isinstance(optical, CatalogSource) else CatalogSource.of(optical)
    sar = sar if sar is None or isinstance(sar, CatalogSource) else CatalogSource.of(sar)
    plans, failures, notes = plan_scenes(optical, bbox, max_days, sar, optical_only)
    sar_location = None if sar is None else sar.location
    report = IngestReport(failures=failures, notes=notes)
    with exclusive_writer(out, "ingest"):
        collection = create_scenes(out)
        done = set(scene_names(collection))
        calls = []
        for plan in plans:
            if plan.name in done:
                report.already_complete += 1
                continue
            scene = create_scene(collection, plan.name, plan.grid.height, plan.grid.width, plan.grid.geo,
                                 record=plan.record(optical.location, sar_location))  # fmt: skip
            if plan.s1 is None:
                scene.attrs[HAS_SAR_ATTRIBUTE] = False
            finished = ingest_markers(scene).completed()
            todo = [w for w in chunk_windows(plan.grid.height, plan.grid.width) if not finished[w[0], w[1]]]
            calls += [(str(out), plan, todo[i : i + WINDOWS_PER_TASK]) for i in range(0, len(todo), WINDOWS_PER_TASK)]
        errors: dict[str, str] = {}
        total = sum(len(call[2]) for call in calls)
        with tqdm(total=total, desc="ingest windows", unit="window", disable=not progress) as bar:
            for name, written, error in run_tasks(ingest_windows, calls, use_ray):
                if error:
                    errors.setdefault(name, error)
                bar.update(written)
        for plan in plans:
            if plan.name in done:
                continue
            if plan.name in errors:
                report.failures.append(errors[plan.name])
            elif finish_scene(collection["scenes"][plan.name]):
                report.written += 1
            else:
                report.failures.append(f"scene {plan.name}: some windows did not finish; rerun to complete it")
    return report
