"""Ingest GeoTIFFs into Zarr collections: SEN12MS-CR trees into ``patches``, S1/S2 scene pairs into ``scenes``.

Resumable and idempotent: a patch's pixels are written first (one atomic chunk per array) and its
``complete`` flag only afterwards, by the driver, so an interrupted run leaves no patch that looks
complete but is not, and a rerun writes exactly the patches still missing. Bad triplets are
reported by file and left incomplete; the rest is ingested. With ``use_ray`` the batches run as
Ray tasks on whatever cluster ``ray.init()`` joins. Scene pairs are copied one chunk window at a
time, never read whole (STAC catalogs of Sentinel products: :mod:`equicr.stac.ingest`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rasterio.windows import Window
from tqdm import tqdm

from equicr.data.clouds import detect_clouds
from equicr.data.collection import (
    HAS_SAR_ATTRIBUTE,
    PatchMetadata,
    check_item_name,
    mark_complete,
    open_collection,
    open_or_create_patches,
    write_patch,
)
from equicr.data.rasters import RasterError, open_raster, read_raster
from equicr.data.scenes import (
    chunk_windows,
    create_scene,
    create_scenes,
    finish_scene,
    scene_names,
    write_scene_window,
)
from equicr.data.sen12mscr import SPLITS, index_tree, read_triplet
from equicr.errors import UserError
from equicr.lease import exclusive_writer
from equicr.scaling import nodata_problem

T = TypeVar("T")
#: Patches handed to one task at a time.
INGEST_BATCH = 16


@dataclass
class IngestReport:
    """What an ingest run did: items written now, found already complete, and failures with reasons."""

    written: int = 0
    already_complete: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out on purpose (unpaired items), not failures

    def summary(self) -> str:
        """One line for the console."""
        return f"{self.written} written, {self.already_complete} already complete, {len(self.failures)} failed"


def ingest_batch(collection_path: str, items: list[tuple[int, dict[str, str], str]]) -> tuple[list, list, list]:
    """Read, cloud-score and write a batch of triplets; returns (indices, metadata, failures).

    Runs in the driver or as a Ray task: it only writes pixel chunks, which belong to one patch each.
    """
    group = open_collection(collection_path, "patches", mode="r+")
    indices, metadata, failures = [], [], []
    for index, paths, split in items:
        try:
            triplet = read_triplet({kind: Path(p) for kind, p in paths.items()})
            problem = nodata_problem(triplet.s1, triplet.s2_cloudy, triplet.s2)
            if problem is not None:
                raise RasterError(f"patch of {paths['s1']} and its twins: {problem}")
            cover = float(detect_clouds(triplet.s2_cloudy).cover[0])
            write_patch(group, index, triplet.s1, triplet.s2_cloudy, triplet.s2)
        except (RasterError, FileNotFoundError, ValueError) as error:
            failures.append(str(error))
            continue
        indices.append(index)
        metadata.append(PatchMetadata(split, cover, triplet.geo))
    return indices, metadata, failures


def ingest_sen12mscr(
    root: str | Path,
    out: str | Path,
    splits: tuple[str, ...] = SPLITS,
    limit: int | None = None,
    use_ray: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Ingest the triplets of a SEN12MS-CR tree (the chosen splits, the first ``limit`` by id) into ``out``."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise UserError(f"unknown splits {sorted(unknown)}; choose from {SPLITS}")
    records, problems = index_tree(root)
    records = [r for r in records if r.split in splits][:limit]
    if not records:
        found = "only incomplete triplets" if problems else "no ROIs*_<season>_<s1|s2|s2_cloudy>/... GeoTIFFs"
        raise FileNotFoundError(f"{root} holds no complete triplet of the splits {list(splits)} ({found})")
    report = ingest_triplets([(r.patch_id, r.paths, r.split) for r in records], out, use_ray, progress)
    report.failures[:0] = problems
    return report


def ingest_triplets(
    triplets: list[tuple[str, dict[str, Path], str]],
    out: str | Path,
    use_ray: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Ingest (patch id, {"s1", "s2_cloudy", "s2"} paths, split) triplets into the patches collection ``out``.

    Rerunning with the same triplets resumes; a different selection of patches is refused.
    """
    with exclusive_writer(out, "ingest"):  # one writer of the shared per-patch metadata chunks
        return _ingest_triplets(triplets, out, use_ray, progress)


def _ingest_triplets(triplets: list, out: str | Path, use_ray: bool, progress: bool) -> IngestReport:
    report = IngestReport()
    group = open_or_create_patches(out, [patch_id for patch_id, _, _ in triplets])
    complete = group["complete"][:]
    report.already_complete = int(complete.sum())
    todo = [
        (i, {kind: str(p) for kind, p in paths.items()}, split)
        for i, (_, paths, split) in enumerate(triplets)
        if not complete[i]
    ]
    batches = [todo[start : start + INGEST_BATCH] for start in range(0, len(todo), INGEST_BATCH)]
    with tqdm(total=len(todo), desc="ingest patches", unit="patch", disable=not progress) as bar:
        for indices, metadata, failures in run_tasks(ingest_batch, [(str(out), batch) for batch in batches], use_ray):
            mark_complete(group, indices, metadata)
            report.written += len(indices)
            report.failures.extend(failures)
            bar.update(len(indices) + len(failures))
    return report


def run_tasks(function: Callable[..., T], calls: list[tuple], use_ray: bool) -> Iterator[T]:
    """``function(*call)`` for every call, here in order or as Ray tasks (one CPU each) in completion order."""
    if not use_ray:
        for call in calls:
            yield function(*call)
        return
    import ray

    ray.init(ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(function)
    pending = [remote.remote(*call) for call in calls]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def ingest_scenes(
    pairs: list[tuple[str, str | Path, str | Path]], out: str | Path, progress: bool = True
) -> IngestReport:
    """Ingest co-registered (name, S1 GeoTIFF, cloudy S2 GeoTIFF) pairs of any size as scenes.

    A pair on different grids (size, CRS or transform) is refused and reported; complete scenes
    already in the collection are skipped.
    """
    for name, _, _ in pairs:  # before anything is written: a bad name must not cost a half-made collection
        check_item_name(name)
    with exclusive_writer(out, "ingest"):  # two ingests of one scene would delete each other's half-written arrays
        return _ingest_scenes(pairs, out, progress)


def _ingest_scenes(pairs: list[tuple[str, str | Path, str | Path]], out: str | Path, progress: bool) -> IngestReport:
    collection = create_scenes(out)
    done = set(scene_names(collection))
    report = IngestReport()
    for name, s1_path, s2_path in tqdm(pairs, desc="ingest scenes", unit="scene", disable=not progress):
        if name in done:
            report.already_complete += 1
            continue
        try:
            _ingest_pair(collection, name, Path(s1_path), Path(s2_path))
            report.written += 1
        except (RasterError, FileNotFoundError) as error:
            report.failures.append(str(error))
    return report


def _ingest_pair(collection, name: str, s1_path: Path, s2_path: Path) -> None:
    """Copy one co-registered pair into a new scene, one chunk window at a time (memory per chunk, not per scene)."""
    with open_raster(s1_path, "s1") as (s1, s1_geo), open_raster(s2_path, "s2_cloudy") as (s2, s2_geo):
        if s1.shape != s2.shape or s1_geo != s2_geo:
            raise RasterError(
                f"scene {name}: {s1_path} ({s1.height}x{s1.width} px, {s1_geo}) and {s2_path} "
                f"({s2.height}x{s2.width} px, {s2_geo}) are not on the same grid"
            )
        scene = create_scene(collection, name, s2.height, s2.width, s2_geo, resume=False)
        measured, problems = set(), {}  # images with a valid pixel somewhere; why the others have none
        for window in chunk_windows(s2.height, s2.width):
            pixels = Window.from_slices(*window[2:])
            s1_window, s2_window = s1.read(window=pixels), s2.read(window=pixels)
            for image, problem in (("s1", nodata_problem(s1_window)), ("s2_cloudy", nodata_problem(None, s2_window))):
                if problem is None:
                    measured.add(image)
                else:
                    problems[image] = problem
            write_scene_window(scene, window, s1_window, s2_window)
    unmeasured = [problems[image] for image in ("s1", "s2_cloudy") if image not in measured]
    if unmeasured:  # the scene stays incomplete, so it is never declouded
        raise RasterError(f"scene {name} ({s1_path}, {s2_path}): {unmeasured[0]}")
    finish_scene(scene)


def ingest_optical_pairs(pairs: list[tuple[str, Path, Path]], out: str | Path, split: str = "test") -> IngestReport:
    """Ingest real (patch id, cloudy S2, clear S2) pairs without Sentinel-1 into a patches collection.

    The ``s1`` array keeps its fill value (no measurement) and the collection is marked
    ``has_sar: false``, so evaluation refuses models that need SAR on it. A pair whose images
    differ in grid or hold no valid pixel is reported by file; a rerun resumes.
    """
    report = IngestReport()
    with exclusive_writer(out, "ingest"):
        group = open_or_create_patches(out, [patch_id for patch_id, _, _ in pairs])
        group.attrs[HAS_SAR_ATTRIBUTE] = False
        complete = group["complete"][:]
        report.already_complete = int(complete.sum())
        done, metadata = [], []
        for index, (_, cloudy_path, clear_path) in enumerate(pairs):
            if complete[index]:
                continue
            try:
                cloudy, clear = read_raster(cloudy_path, "s2_cloudy"), read_raster(clear_path, "s2")
                if cloudy.data.shape != clear.data.shape:
                    raise RasterError(f"{cloudy_path} {cloudy.data.shape} and {clear_path} {clear.data.shape} differ")
                problem = nodata_problem(None, cloudy.data, clear.data)
                if problem is not None:
                    raise RasterError(f"{cloudy_path}: {problem}")
            except (RasterError, FileNotFoundError) as error:
                report.failures.append(str(error))
                continue
            group["s2_cloudy"][index], group["s2"][index] = cloudy.data, clear.data
            done.append(index)
            metadata.append(PatchMetadata(split, float(detect_clouds(cloudy.data).cover[0]), clear.geo))
        mark_complete(group, done, metadata)
        report.written = len(done)
    return report
