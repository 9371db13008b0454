"""GeoTIFFs into collections: SEN12MS-CR trees, real triplets and optical pairs, scene pairs, the test bench.

Patches go through the one patch writer (:mod:`equicr.ingest.patches`), scenes through the one
scene writer (:mod:`equicr.ingest.scenes`): both resume where a killed run stopped, and report a
bad file by name while the rest is ingested. Scene pairs are copied one chunk window at a time,
never read whole.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from rasterio.windows import Window
from tqdm import tqdm

from equicr.data.collection import HAS_SAR_ATTRIBUTE, check_item_name
from equicr.data.rasters import RasterError, open_raster, read_raster
from equicr.data.real import DO_NO_HARM, REAL_CLOUDS, TRIPLETS, VIRGINIA_UNSEEN, RealData, triplet_records
from equicr.data.scenes import chunk_windows, scene_names
from equicr.data.sen12mscr import SPLITS, index_tree, read_triplet
from equicr.errors import UserError
from equicr.ingest.patches import PatchPixels, write_patches
from equicr.ingest.report import IngestReport
from equicr.ingest.scenes import create_scene, create_scenes, finish_scene, write_scene_window
from equicr.lease import exclusive_writer
from equicr.scaling import nodata_problem


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


@dataclass(frozen=True)
class TripletFiles:
    """Makes patch ``i`` from the ``i``-th triplet of GeoTIFFs (picklable, for Ray tasks)."""

    paths: tuple[dict[str, str], ...]

    def __call__(self, index: int) -> PatchPixels:
        paths = {kind: Path(path) for kind, path in self.paths[index].items()}
        triplet = read_triplet(paths)
        return PatchPixels(triplet.s1, triplet.s2_cloudy, triplet.s2, triplet.geo, f"{paths['s1']} and its twins")


def ingest_triplets(
    triplets: list[tuple[str, dict[str, Path], str]],
    out: str | Path,
    use_ray: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Ingest (patch id, {"s1", "s2_cloudy", "s2"} paths, split) triplets into the patches collection ``out``.

    Rerunning with the same triplets resumes; a different selection of patches is refused.
    """
    files = TripletFiles(tuple({kind: str(path) for kind, path in paths.items()} for _, paths, _ in triplets))
    return write_patches(out, [patch_id for patch_id, _, _ in triplets], [split for _, _, split in triplets], files,
                         use_ray=use_ray, progress=progress)  # fmt: skip


@dataclass(frozen=True)
class OpticalPairFiles:
    """Makes patch ``i`` from the ``i``-th (cloudy, clear) pair of Sentinel-2 GeoTIFFs, without Sentinel-1."""

    pairs: tuple[tuple[Path, Path], ...]

    def __call__(self, index: int) -> PatchPixels:
        cloudy_path, clear_path = self.pairs[index]
        cloudy, clear = read_raster(cloudy_path, "s2_cloudy"), read_raster(clear_path, "s2")
        if cloudy.data.shape != clear.data.shape:
            raise RasterError(f"{cloudy_path} {cloudy.data.shape} and {clear_path} {clear.data.shape} differ")
        return PatchPixels(None, cloudy.data, clear.data, clear.geo, f"{cloudy_path}, {clear_path}")


def ingest_optical_pairs(
    pairs: list[tuple[str, Path, Path]], out: str | Path, split: str = "test", progress: bool = False
) -> IngestReport:
    """Ingest real (patch id, cloudy S2, clear S2) pairs without Sentinel-1 into a patches collection.

    The ``s1`` array keeps its fill value (no measurement) and the collection is marked
    ``has_sar: false``, so evaluation refuses models that need SAR on it. A pair whose images
    differ in grid or hold no valid pixel is reported by file; a rerun resumes, patch by patch.
    """
    files = OpticalPairFiles(tuple((Path(cloudy), Path(clear)) for _, cloudy, clear in pairs))
    return write_patches(out, [patch_id for patch_id, _, _ in pairs], [split] * len(pairs), files,
                         attributes={HAS_SAR_ATTRIBUTE: False}, progress=progress)  # fmt: skip


def write_test_bench(data: RealData, out: Path) -> dict[str, str]:
    """Write the test bench as three patches collections under ``out`` (all split "test"); a rerun resumes.

    ``real-clouds``: the 25 fair real-cloud pairs (optical only); ``triplets``: the 12 real
    triplets (SAR + optical); ``do-no-harm``: the 19 pairs whose "cloudy" date is clear, scored
    apart; ``virginia-unseen``: clear land of the Virginia product's unseen area, each patch its own
    target (where the folder holds the product). Returns the collection locations by name; a pair
    or triplet that cannot be ingested is an
    error naming its files (the test bench is complete or it is not a test bench).
    """
    out = Path(out)
    reports = {
        REAL_CLOUDS: ingest_optical_pairs([(p.name, p.s2_cloudy, p.s2) for p in data.real_cloud_pairs],
                                          out / f"{REAL_CLOUDS}.zarr"),
        TRIPLETS: ingest_triplets(triplet_records(data.triplets), out / f"{TRIPLETS}.zarr", progress=False),
        DO_NO_HARM: ingest_optical_pairs([(p.name, p.s2_cloudy, p.s2) for p in data.do_no_harm_pairs],
                                         out / f"{DO_NO_HARM}.zarr"),
    }  # fmt: skip
    unseen = data.virginia(out / "virginia-unseen-tifs", "unseen")
    if unseen:
        reports[VIRGINIA_UNSEEN] = ingest_optical_pairs([(p.name, p.s2, p.s2) for p in unseen],
                                                        out / f"{VIRGINIA_UNSEEN}.zarr")  # fmt: skip
    failures = [failure for report in reports.values() for failure in report.failures]
    if failures:
        raise UserError(f"the test bench under {out} is incomplete: {failures}")
    return {name: str(out / f"{name}.zarr") for name in reports}


def ingest_scenes(
    pairs: list[tuple[str, str | Path | None, str | Path]], out: str | Path, progress: bool = True
) -> IngestReport:
    """Ingest co-registered (name, S1 GeoTIFF, cloudy S2 GeoTIFF) pairs of any size as scenes.

    An S1 of None makes an optical-only scene (for optical models).

    A pair on different grids (size, CRS or transform) is refused and reported; complete scenes
    already in the collection are skipped.
    """
    for name, _, _ in pairs:  # before anything is written: a bad name must not cost a half-made collection
        check_item_name(name)
    with exclusive_writer(out, "ingest"):  # two ingests of one scene would delete each other's half-written arrays
        collection = create_scenes(out)
        done = set(scene_names(collection))
        report = IngestReport()
        for name, s1_path, s2_path in tqdm(pairs, desc="ingest scenes", unit="scene", disable=not progress):
            if name in done:
                report.already_complete += 1
                continue
            try:
                _ingest_pair(collection, name, Path(s1_path) if s1_path else None, Path(s2_path))
                report.written += 1
            except (RasterError, FileNotFoundError) as error:
                report.failures.append(str(error))
    return report


def _ingest_pair(collection, name: str, s1_path: Path | None, s2_path: Path) -> None:
    """Copy one co-registered pair (or a cloudy S2 alone) into a new scene, one chunk window at a time.

    Memory stays per chunk, not per scene. Without ``s1_path`` the scene is optical-only
    (``has_sar: false``), as STAC's ``--optical-only`` makes them.
    """
    with contextlib.ExitStack() as stack:
        s2 = stack.enter_context(open_raster(s2_path, "s2_cloudy"))
        s1 = stack.enter_context(open_raster(s1_path, "s1")) if s1_path is not None else None
        if s1 is not None and (s1.shape != s2.shape or s1.geo != s2.geo):
            raise RasterError(
                f"scene {name}: {s1_path} ({s1.shape[0]}x{s1.shape[1]} px, {s1.geo}) and {s2_path} "
                f"({s2.shape[0]}x{s2.shape[1]} px, {s2.geo}) are not on the same grid"
            )
        height, width = s2.shape
        scene = create_scene(collection, name, height, width, s2.geo, resume=False)
        if s1 is None:
            scene.attrs[HAS_SAR_ATTRIBUTE] = False
        images = ("s2_cloudy",) if s1 is None else ("s1", "s2_cloudy")
        measured, problems = set(), {}  # images with a valid pixel somewhere; why the others have none
        for window in chunk_windows(height, width):
            pixels = Window.from_slices(*window[2:])
            s1_window = s1.read(window=pixels) if s1 is not None else None
            s2_window = s2.read(window=pixels)
            for image, problem in (("s1", nodata_problem(s1_window)), ("s2_cloudy", nodata_problem(None, s2_window))):
                if problem is None:
                    measured.add(image)
                else:
                    problems[image] = problem
            write_scene_window(scene, window, s1_window, s2_window)
    unmeasured = [problems[image] for image in images if image not in measured]
    if unmeasured:  # the scene stays incomplete, so it is never declouded
        raise RasterError(f"scene {name} ({s1_path or 'no Sentinel-1'}, {s2_path}): {unmeasured[0]}")
    finish_scene(scene)
