"""The one resumable writer of patches collections.

Every patch ingest (SEN12MS-CR trees, real triplets and optical pairs, synthetic patches,
composites) names its patches and gives a function that makes patch ``i``'s pixels; this module
does the rest, the same way for all of them: it takes the collection's ingest lease, opens the
collection to resume it (or creates it for exactly these patches), skips patches already marked
complete, writes each remaining patch's pixels, measures its cloud cover with s2cloudless, and
marks it complete, patch by patch, only after its pixels (:mod:`equicr.data.completion`). A killed
run loses at most the patches in flight; a rerun writes exactly the missing ones. A patch whose
making fails with a user's error (a bad file, no valid pixel) is reported by name and left
incomplete; the others are written. With ``use_ray`` the patches are made and written by Ray
tasks, in batches; the driver alone marks them (the markers share chunks across patches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from equicr.data.clouds import detect_clouds
from equicr.data.collection import (
    PatchMetadata,
    mark_complete,
    open_collection,
    open_or_create_patches,
    patch_markers,
    write_patch,
)
from equicr.data.rasters import GeoReference
from equicr.errors import UserError
from equicr.executors import run_tasks
from equicr.ingest.report import IngestReport
from equicr.lease import exclusive_writer
from equicr.scaling import nodata_problem

#: Patches handed to one Ray task at a time (in this process, each patch is marked as soon as it is written).
RAY_BATCH = 16


@dataclass(frozen=True)
class PatchPixels:
    """One patch's pixels and georeference; ``s1`` None means no Sentinel-1 (the array keeps its fill value)."""

    s1: np.ndarray | None
    s2_cloudy: np.ndarray
    s2: np.ndarray
    geo: GeoReference
    source: str = ""  # the files it was read from, for errors


#: Makes patch ``index``'s pixels, or raises a UserError naming what is wrong with its sources.
PatchMaker = Callable[[int], PatchPixels]


def write_patches(
    out: str | Path,
    patch_ids: Sequence[str],
    splits: Sequence[str],
    make_patch: PatchMaker,
    patch_size: int | None = None,
    attributes: dict[str, Any] | None = None,
    use_ray: bool = False,
    progress: bool = True,
    description: str = "ingest patches",
) -> IngestReport:
    """Write the patches ``patch_ids`` (with their ``splits``) into ``out``, resuming what a former run began.

    ``make_patch`` is called once per missing patch, in increasing index order in this process; on
    Ray it must be picklable. ``attributes`` are stored on the collection (provenance); a collection
    made for other patches is refused.
    """
    if len(patch_ids) != len(splits):
        raise UserError(f"{out}: {len(patch_ids)} patch ids but {len(splits)} splits")
    report = IngestReport()
    with exclusive_writer(out, "ingest"):  # one writer of the per-patch metadata and marker chunks
        extra = {} if patch_size is None else {"patch_size": patch_size}
        group = open_or_create_patches(out, list(patch_ids), **extra)
        group.attrs.update(attributes or {})
        complete = patch_markers(group).completed()
        report.already_complete = int(complete.sum())
        todo = [index for index in range(len(patch_ids)) if not complete[index]]
        batch = RAY_BATCH if use_ray else 1
        calls = [(str(out), todo[start : start + batch], [splits[i] for i in todo[start : start + batch]], make_patch)
                 for start in range(0, len(todo), batch)]  # fmt: skip
        with tqdm(total=len(todo), desc=description, unit="patch", disable=not progress) as bar:
            for indices, metadata, failures in run_tasks(write_patch_batch, calls, use_ray):
                mark_complete(group, indices, metadata)  # only after the pixels: a kill in between redoes them
                report.written += len(indices)
                report.failures.extend(failures)
                bar.update(len(indices) + len(failures))
    return report


def write_patch_batch(
    collection: str, indices: list[int], splits: list[str], make_patch: PatchMaker
) -> tuple[list[int], list[PatchMetadata], list[str]]:
    """Make, check, cloud-score and write some patches; return (indices written, their metadata, failures).

    Runs in the driver or as a Ray task: it writes only pixel chunks, which belong to one patch each.
    """
    group = open_collection(collection, "patches", mode="r+")
    written, metadata, failures = [], [], []
    for index, split in zip(indices, splits, strict=True):
        try:
            pixels = make_patch(index)
            problem = nodata_problem(pixels.s1, pixels.s2_cloudy, pixels.s2)
            if problem is not None:
                source = f" ({pixels.source})" if pixels.source else ""
                raise UserError(f"patch {group['patch_id'][index]}{source}: {problem}")
        except (UserError, FileNotFoundError) as error:
            failures.append(str(error))
            continue
        cover = float(detect_clouds(pixels.s2_cloudy).cover[0])
        write_patch(group, index, pixels.s1, pixels.s2_cloudy, pixels.s2)
        written.append(index)
        metadata.append(PatchMetadata(split, cover, pixels.geo))
    return written, metadata, failures
