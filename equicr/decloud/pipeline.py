"""Decloud every scene of a scenes collection with Ray Data, tile by tile, resumably.

A Ray Data dataset of work units (scene, tile) is mapped by a pool of actors; each actor loads the
model once, reads its unit's inputs with a halo straight from Zarr, infers, and writes its own
output chunk (the layout is :mod:`equicr.decloud.output`). Nothing large passes through the object
store. A rerun skips finished units. Scenes that break the collection's contract (missing arrays,
wrong bands, different grids) are reported with their reason and skipped; the others finish.
Pixels where an input the model reads holds no measurement (the scene's valid-pixel masks) get the
output's nodata, DN 0; the rest is declouded, with invalid neighbours filled by the one policy of
:mod:`equicr.scaling`. Nothing is scanned before work starts: each actor reads its tile's masks.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from equicr.bands import S2_BANDS, has_optical_input, has_sar_input
from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, image_clouds, window_clouds
from equicr.data.collection import HAS_SAR_ATTRIBUTE, open_collection, read_pixels, write_pixels
from equicr.data.scenes import VALID_ARRAYS, scene_names, stored_scene_problem
from equicr.decloud.output import (
    OUTPUT_ARRAY,
    PROBABILITY_ARRAY,
    DecloudError,
    mark_scene_complete,
    prepare_output,
    record_actors,
    unit_markers,
)
from equicr.decloud.settings import DecloudSettings
from equicr.decloud.tiling import plan_units, unit_at
from equicr.deploy.predictors import ModelReference, describe, load_predictor, resolve_model
from equicr.executors import ActorPool, claim_cores, map_with_actors
from equicr.lease import LeaseHeld, LeaseKeeper, check_lease, lease_location
from equicr.postprocessing import DEFAULT_POSTPROCESSING, combine, needs_clouds
from equicr.scaling import (
    OPTICAL_FILL_DN,
    network_inputs,
    predicted_optical_dn,
    valid_input_mask,
)
from equicr.storage import json_safe, redacted


@dataclass
class DecloudSummary:
    """What a run did: scenes finished, scenes failed and why, units processed and their rate."""

    scenes_done: list[str] = field(default_factory=list)
    scenes_failed: dict[str, str] = field(default_factory=dict)
    units_processed: int = 0
    units_skipped: int = 0
    seconds: float = 0.0

    @property
    def units_per_second(self) -> float:
        """Throughput of this run."""
        return self.units_processed / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        """Lines for a person."""
        lines = [
            f"{len(self.scenes_done)} scene(s) done, {len(self.scenes_failed)} failed; "
            f"{self.units_processed} unit(s) processed, {self.units_skipped} already done, "
            f"{self.units_per_second:.2f} units/s"
        ]
        lines += [f"  failed {name}: {reason}" for name, reason in self.scenes_failed.items()]
        return "\n".join(lines)


class DecloudActor:
    """Ray Data callable class: loads the model once, then reads, infers and writes whole work units.

    The model is the driver's resolved reference; the actor loads the file only if its SHA-256 is
    the recorded one (a model replaced after the job started is refused, not mixed in).
    """

    def __init__(
        self, collection: str, model: ModelReference, settings: DecloudSettings, leases: dict[str, tuple[str, str]],
        device: str = "cpu", threads: int | None = None,
    ) -> None:  # fmt: skip
        if settings.halo is None:
            raise DecloudError("the actor needs the settings for its model (DecloudSettings.for_model)")
        claim_cores(threads)
        self.predictor = load_predictor(model, device, settings.precision)
        print(f"decloud actor: {describe(self.predictor)}", flush=True)
        self.ran_with = json.dumps(ran_with(self.predictor.source), sort_keys=True)
        self.collection = open_collection(collection, "scenes", mode="r+")
        self.settings = settings
        self.leases = leases  # scene -> (lease location, our token): checked before every write

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = []
        for scene_name, tile_row, tile_col in zip(batch["scene"], batch["tile_row"], batch["tile_col"], strict=True):
            try:
                self.process(str(scene_name), int(tile_row), int(tile_col))
                errors.append("")
            except Exception as error:  # one bad unit must not stop the others; the reason is reported
                errors.append(f"{type(error).__name__}: {error}")
        ran = np.array([self.ran_with] * len(errors), dtype=object)
        return {**batch, "error": np.array(errors, dtype=object), "ran_with": ran}

    def process(self, scene_name: str, tile_row: int, tile_col: int) -> None:
        """Decloud one unit and mark it done, in that order, each only while this job holds the scene's lease.

        Only the images the model reads are read; pixels where one of them is not valid get the
        output's nodata (DN 0), and a tile without a valid pixel is written as nodata uninferred.
        """
        scene = self.collection["scenes"][scene_name]
        _, height, width = scene["s2_cloudy"].shape
        settings = self.settings
        unit = unit_at(scene_name, height, width, settings.tile_size, settings.halo, tile_row, tile_col)
        rows, cols = unit.read.slices
        crop_rows, crop_cols = unit.crop
        where = (
            f"tile ({tile_row}, {tile_col}) of scene {scene_name}, rows {rows.start}:{rows.stop}, "
            f"cols {cols.start}:{cols.stop}"
        )
        images = model_images(self.predictor.reference.input_mode)
        inputs = {name: read_pixels(scene[name], (slice(None), rows, cols), where) for name in images}
        valid = np.logical_and.reduce([read_pixels(scene[VALID_ARRAYS[name]], (rows, cols), where) for name in images])[
            crop_rows, crop_cols
        ]
        core_rows, core_cols = unit.core.slices
        output = np.full((len(S2_BANDS), *valid.shape), OPTICAL_FILL_DN, dtype=np.uint16)
        probability = np.full(valid.shape, np.nan, dtype=np.float32)
        if valid.any():
            network_input = network_inputs(
                inputs.get("s1"), inputs.get("s2_cloudy"), self.predictor.reference.input_mode
            )
            prediction = self.predictor.predict(network_input[None])[0]
            output = predicted_optical_dn(prediction[:, crop_rows, crop_cols], valid)
            if needs_clouds(settings.postprocessing):  # read the cloudy image even if a SAR-only model did not

                def read_cloudy(window_rows: slice, window_cols: slice) -> np.ndarray:
                    return read_pixels(scene["s2_cloudy"], (slice(None), window_rows, window_cols), where)

                clouds = window_clouds(read_cloudy, height, width, core_rows, core_cols, settings.cloud_resolution_m)
                output = combine(output, read_cloudy(core_rows, core_cols), valid, settings.postprocessing,
                                 clouds.probability[0], clouds.mask[0])  # fmt: skip
                probability = np.where(valid, clouds.probability[0], np.nan)
        check_lease(*self.leases[scene_name])
        if needs_clouds(settings.postprocessing):
            write_pixels(scene[PROBABILITY_ARRAY], (core_rows, core_cols), probability)
        write_pixels(scene[OUTPUT_ARRAY], (slice(None), core_rows, core_cols), output)
        check_lease(*self.leases[scene_name])
        unit_markers(scene).mark_completed((tile_row, tile_col))  # after the data: a crash in between redoes it


def model_images(input_mode: str) -> list[str]:
    """The scene images a model of ``input_mode`` reads: the cloudy optical image, SAR, or both."""
    return [name for name, used in (("s2_cloudy", has_optical_input(input_mode)), ("s1", has_sar_input(input_mode)))
            if used]  # fmt: skip


def ran_with(source: dict) -> dict:
    """How a predictor actually runs (backend, device or provider, precision), as a decloud record keeps it."""
    return {key: source[key] for key in ("backend", "device", "provider", "precision") if key in source}


def run_decloud(
    collection_path: str | Path,
    model: str | Path | ModelReference,
    settings: DecloudSettings | None = None,
    scenes: list[str] | None = None,
    pool: ActorPool | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> DecloudSummary:
    """Decloud the named scenes (default: every complete scene) and return what happened.

    ``model`` is resolved once, here; the actors receive the resolved reference and ``settings``
    (with the model's halo filled in), which is also what each scene's output records, with how
    its actors actually ran. ``pool`` defaults to one single-core actor on Ray.
    """
    pool = pool or ActorPool()
    started = time.perf_counter()
    collection_path = str(collection_path)
    collection = open_collection(collection_path, "scenes", mode="r+")
    stored, complete = scene_names(collection, complete_only=False), scene_names(collection)
    unknown = sorted(set(scenes or ()) - set(stored))
    if unknown:
        raise DecloudError(f"{collection_path} has no scenes {unknown}")
    unfinished = sorted(set(scenes or stored) - set(complete))
    if scenes and unfinished:
        raise DecloudError(
            f"scenes {unfinished} of {collection_path} were never completely ingested; rerun jobs/ingest.py for them"
        )
    names = scenes or complete
    settings = settings or DecloudSettings()
    reference = resolve_model(model, settings.precision, pool.device)  # an ONNX file's verified fast variant
    settings = settings.for_model(reference.receptive_field_radius)
    summary = DecloudSummary()
    for name in unfinished:  # without --scenes: skipped, but never in silence
        summary.scenes_failed[name] = "its ingest never finished; rerun jobs/ingest.py, then decloud again"
    with LeaseKeeper() as keeper:  # one job per scene output: a second one is refused, not mixed in
        todo, units_per_scene = _plan(collection, collection_path, names, reference, settings, overwrite, keeper,
                                      summary)  # fmt: skip
        leases = {name: (lease.location, lease.token) for name, lease in keeper.leases.items()}
        actor_args = {"collection": collection_path, "model": reference, "settings": settings, "leases": leases,
                      "device": pool.device}  # fmt: skip
        unit_errors: dict[str, str] = {}
        actors: dict[str, set[str]] = {name: set() for name in units_per_scene}
        with tqdm(total=len(todo), desc="decloud", unit="unit", disable=not progress) as bar:
            for result in map_with_actors(todo, DecloudActor, actor_args, settings.batch_size, pool):
                for scene_name, error, ran in zip(result["scene"], result["error"], result["ran_with"], strict=True):
                    actors[str(scene_name)].add(str(ran))
                    if error:
                        unit_errors.setdefault(str(scene_name), str(error))
                    else:
                        summary.units_processed += 1
                    bar.update(1)

        for name in units_per_scene:
            scene = collection["scenes"][name]
            if not keeper.holds(name):
                summary.scenes_failed[name] = keeper.lost[name]
                continue
            record_actors(scene, [json.loads(ran) for ran in actors[name]])
            if name in unit_errors or not unit_markers(scene).all_completed():
                summary.scenes_failed[name] = unit_errors.get(name, "some units did not finish")
            else:
                mark_scene_complete(scene)
                summary.scenes_done.append(name)
    summary.seconds = time.perf_counter() - started
    record = {**asdict(summary), "model": reference.location}  # failure messages may quote other jobs' places
    collection.attrs["last_decloud_run"] = json_safe(redacted(record))
    return summary


def _plan(
    collection, collection_path: str, names: list[str], reference: ModelReference, settings: DecloudSettings,
    overwrite: bool, keeper: LeaseKeeper, summary: DecloudSummary,
) -> tuple[list[dict], dict[str, int]]:  # fmt: skip
    """Lease each scene's output, prepare it, and list its unfinished units; refused scenes go to ``summary``."""
    todo, units_per_scene = [], {}
    needs_sar = has_sar_input(reference.input_mode)
    for name in names:
        scene = collection["scenes"][name]
        problem = stored_scene_problem(scene)
        if problem is None and needs_sar and not scene.attrs.get(HAS_SAR_ATTRIBUTE, True):
            problem = "it has no Sentinel-1 (ingested optical-only) and the model reads SAR; use an optical model"
        if problem is not None:
            summary.scenes_failed[name] = problem
            continue
        try:
            keeper.take(name, lease_location(collection_path, f"decloud-{name}"))
        except LeaseHeld as error:
            summary.scenes_failed[name] = f"another decloud job is writing it ({error}); rerun once it has finished"
            continue
        prepare_output(scene, name, reference.record(), settings, overwrite)
        done = unit_markers(scene).completed()
        units = plan_units(name, *scene["s2_cloudy"].shape[1:], settings.tile_size, settings.halo)
        units_per_scene[name] = len(units)
        pending = [u for u in units if not done[u.tile_row, u.tile_col]]
        summary.units_skipped += len(units) - len(pending)
        todo += [{"scene": u.scene, "tile_row": u.tile_row, "tile_col": u.tile_col} for u in pending]
    return todo, units_per_scene


def decloud_whole_image(
    model: str | Path, s1: np.ndarray | None, s2_cloudy: np.ndarray, postprocessing: str = DEFAULT_POSTPROCESSING,
    cloud_resolution_m: int = SCENE_CLOUD_RESOLUTION_M,
) -> np.ndarray:  # fmt: skip
    """Reference: the whole scene through the model at once (no tiling), as DN, nodata where an input is invalid.

    Post-processed as declouding does (s2cloudless on the whole image at once), unless "raw".
    """
    predictor = load_predictor(model)
    mode = predictor.reference.input_mode
    inputs = network_inputs(s1, s2_cloudy, mode)
    valid = valid_input_mask(s1, s2_cloudy, mode)
    output = predicted_optical_dn(predictor.predict(inputs[None])[0], valid)
    if not needs_clouds(postprocessing):
        return output
    clouds = image_clouds(s2_cloudy, cloud_resolution_m)
    return combine(output, s2_cloudy, valid, postprocessing, clouds.probability[0], clouds.mask[0])
