"""Decloud every scene of a scenes collection with Ray Data, tile by tile, resumably.

A Ray Data dataset of work units (scene, tile) is mapped by a pool of actors; each actor loads the
model once, reads its unit's inputs with a halo straight from Zarr, infers, and writes its own
output chunk. Nothing large passes through the object store. Per scene the output lives beside the
inputs: ``s2_decloud`` (13-band DN on the input grid, one chunk per unit), optionally
``cloud_probability``, and ``decloud_done``, one marker chunk per unit written only after the
unit's data. A rerun skips finished units; the scene's ``decloud`` attribute records the model and
parameters and says ``complete`` only once every unit is done. Bad scenes (NaN, wrong bands,
different grids) are reported with their reason and skipped; the others finish.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import zarr
from tqdm import tqdm

from equicr.actor_pool import claim_cores, map_with_actors
from equicr.bands import S1_BANDS, S2_BANDS
from equicr.data.clouds import detect_clouds
from equicr.data.collection import BAND_DIMENSION, SCENE_CHUNK, open_collection, scene_names
from equicr.decloud.predictors import load_predictor
from equicr.decloud.tiling import plan_units, tile_grid, unit_at
from equicr.scaling import network_inputs, network_to_optical_dn

#: Output tile side in pixels: one work unit and one output chunk. Each unit is read with a halo
#: (34 px for the full model), so small tiles spend most of their time on the halo: 256-px tiles
#: compute 1.6x the pixels they write, 1024-px tiles 1.14x (bench/decloud.py). The activations of a
#: full-size EquiCR on a 1092-px window take about 3 GB each in float32: lower --tile-size for
#: accelerators with less than about 16 GB.
DEFAULT_TILE_SIZE = 1024
OUTPUT_ARRAY, DONE_ARRAY, PROBABILITY_ARRAY = "s2_decloud", "decloud_done", "cloud_probability"


class DecloudError(ValueError):
    """A scene cannot be declouded as asked."""


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


def scene_problem(scene: zarr.Group) -> str | None:
    """Why a scene cannot be declouded, or None: missing arrays, wrong bands, grids, NaN."""
    for name, bands in (("s1", S1_BANDS), ("s2_cloudy", S2_BANDS)):
        if name not in scene:
            return f"no '{name}' array"
        if scene[name].ndim != 3 or scene[name].shape[0] != len(bands):
            return f"'{name}' has shape {scene[name].shape}, expected ({len(bands)}, H, W) with bands {bands}"
    if scene["s1"].shape[1:] != scene["s2_cloudy"].shape[1:]:
        return f"s1 is {scene['s1'].shape[1:]} px but s2_cloudy is {scene['s2_cloudy'].shape[1:]} px: not one grid"
    nan_count = 0
    _, rows, cols = scene["s1"].shape
    for top in range(0, rows, SCENE_CHUNK):  # chunk by chunk: memory stays bounded for any scene size
        for left in range(0, cols, SCENE_CHUNK):
            nan_count += int(np.isnan(scene["s1"][:, top : top + SCENE_CHUNK, left : left + SCENE_CHUNK]).sum())
    if nan_count:
        return f"s1 holds {nan_count} NaN pixels"
    return None


def prepare_output(scene: zarr.Group, name: str, record: dict, tile_size: int, overwrite: bool) -> None:
    """Create the scene's output arrays, or check that existing ones come from the same model and parameters."""
    existing = scene.attrs.get("decloud")
    if existing is not None:
        same = {k: existing.get(k) for k in record} == record
        if same:
            return
        if not overwrite:
            raise DecloudError(
                f"scene {name} already has output from {existing.get('model')} with different parameters; "
                "pass --overwrite to replace it"
            )
        for array in (OUTPUT_ARRAY, DONE_ARRAY, PROBABILITY_ARRAY):
            if array in scene:
                del scene[array]
    _, height, width = scene["s2_cloudy"].shape
    rows, cols = tile_grid(height, width, tile_size)
    scene.create_array(
        OUTPUT_ARRAY, shape=(len(S2_BANDS), height, width), chunks=(len(S2_BANDS), tile_size, tile_size),
        dtype="uint16", fill_value=0, dimension_names=[BAND_DIMENSION["s2"], "y", "x"], overwrite=True,
    )  # fmt: skip
    scene.create_array(DONE_ARRAY, shape=(rows, cols), chunks=(1, 1), dtype="bool", fill_value=False, overwrite=True)
    if record["keep_clear"]:
        scene.create_array(
            PROBABILITY_ARRAY, shape=(height, width), chunks=(tile_size, tile_size), dtype="float32",
            fill_value=np.nan, dimension_names=["y", "x"], overwrite=True,
        )  # fmt: skip
    scene.attrs["decloud"] = {**record, "complete": False}


class DecloudActor:
    """Ray Data callable class: loads the model once, then reads, infers and writes whole work units."""

    def __init__(
        self, collection: str, model: str, tile_size: int, halo: int, keep_clear: bool, device: str = "cpu",
        precision: str = "fp32", threads: int | None = None,
    ) -> None:  # fmt: skip
        claim_cores(threads)
        self.predictor = load_predictor(model, device, precision)
        self.collection = open_collection(collection, "scenes", mode="r+")
        self.tile_size, self.halo, self.keep_clear = tile_size, halo, keep_clear

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = []
        for scene_name, tile_row, tile_col in zip(batch["scene"], batch["tile_row"], batch["tile_col"], strict=True):
            try:
                self.process(str(scene_name), int(tile_row), int(tile_col))
                errors.append("")
            except Exception as error:  # one bad unit must not stop the others; the reason is reported
                errors.append(f"{type(error).__name__}: {error}")
        return {**batch, "error": np.array(errors, dtype=object)}

    def process(self, scene_name: str, tile_row: int, tile_col: int) -> None:
        """Decloud one unit and mark it done, in that order."""
        scene = self.collection["scenes"][scene_name]
        _, height, width = scene["s2_cloudy"].shape
        unit = unit_at(scene_name, height, width, self.tile_size, self.halo, tile_row, tile_col)
        rows, cols = unit.read.slices
        s1, s2_cloudy = scene["s1"][:, rows, cols], scene["s2_cloudy"][:, rows, cols]
        prediction = network_to_optical_dn(
            self.predictor.predict(network_inputs(s1, s2_cloudy, self.predictor.config.input_mode)[None])
        )[0]
        crop_rows, crop_cols = unit.crop
        output = prediction[:, crop_rows, crop_cols]
        core_rows, core_cols = unit.core.slices
        if self.keep_clear:
            clouds = detect_clouds(s2_cloudy)
            cloudy = clouds.mask[0][crop_rows, crop_cols]
            output = np.where(cloudy[None], output, s2_cloudy[:, crop_rows, crop_cols])
            scene[PROBABILITY_ARRAY][core_rows, core_cols] = clouds.probability[0][crop_rows, crop_cols]
        scene[OUTPUT_ARRAY][:, core_rows, core_cols] = output
        scene[DONE_ARRAY][tile_row, tile_col] = True  # only after the data: a crash in between redoes the unit


def model_record(
    model: str, tile_size: int, halo: int | None, keep_clear: bool, precision: str = "fp32"
) -> tuple[dict, int]:
    """What each output records about its making, and the halo in use (default: the receptive-field radius)."""
    predictor = load_predictor(model, precision=precision)
    halo = predictor.config.receptive_field_radius if halo is None else halo
    record = {
        "model": predictor.source["file"], "model_sha256": predictor.source["sha256"],
        "model_config": predictor.config.to_dict(), "tile_size": tile_size, "halo": halo, "keep_clear": keep_clear,
        "precision": precision,
    }  # fmt: skip
    return record, halo


def run_decloud(
    collection_path: str | Path,
    model: str | Path,
    scenes: list[str] | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    halo: int | None = None,
    batch_size: int = 1,
    pool_size: int = 1,
    cpus_per_actor: int = 1,
    gpus_per_actor: float = 0,
    keep_clear: bool = False,
    precision: str = "fp32",
    overwrite: bool = False,
    use_ray: bool = True,
    progress: bool = True,
) -> DecloudSummary:
    """Decloud the named scenes (default: every complete scene) and return what happened."""
    started = time.perf_counter()
    collection_path, model = str(collection_path), str(model)
    collection = open_collection(collection_path, "scenes", mode="r+")
    names = scenes or scene_names(collection)
    unknown = sorted(set(names) - set(scene_names(collection, complete_only=False)))
    if unknown:
        raise DecloudError(f"{collection_path} has no scenes {unknown}")
    record, halo = model_record(model, tile_size, halo, keep_clear, precision)
    summary, todo, units_per_scene = DecloudSummary(), [], {}
    for name in names:
        scene = collection["scenes"][name]
        problem = scene_problem(scene)
        if problem is not None:
            summary.scenes_failed[name] = problem
            continue
        prepare_output(scene, name, record, tile_size, overwrite)
        done = scene[DONE_ARRAY][:]
        units = plan_units(name, *scene["s2_cloudy"].shape[1:], tile_size, halo)
        units_per_scene[name] = len(units)
        pending = [u for u in units if not done[u.tile_row, u.tile_col]]
        summary.units_skipped += len(units) - len(pending)
        todo += [{"scene": u.scene, "tile_row": u.tile_row, "tile_col": u.tile_col} for u in pending]

    actor_args = {"collection": collection_path, "model": model, "tile_size": tile_size, "halo": halo,
                  "keep_clear": keep_clear, "device": "cuda" if gpus_per_actor else "cpu",
                  "precision": precision}  # fmt: skip
    unit_errors: dict[str, str] = {}
    with tqdm(total=len(todo), desc="decloud", unit="unit", disable=not progress) as bar:
        results = map_with_actors(
            todo, DecloudActor, actor_args, batch_size, pool_size, cpus_per_actor, gpus_per_actor, use_ray
        )
        for result in results:
            for scene_name, error in zip(result["scene"], result["error"], strict=True):
                if error:
                    unit_errors.setdefault(str(scene_name), str(error))
                else:
                    summary.units_processed += 1
                bar.update(1)

    for name in units_per_scene:
        scene = collection["scenes"][name]
        if name in unit_errors or not scene[DONE_ARRAY][:].all():
            summary.scenes_failed[name] = unit_errors.get(name, "some units did not finish")
            continue
        scene.attrs["decloud"] = {**scene.attrs["decloud"], "complete": True}
        summary.scenes_done.append(name)
    summary.seconds = time.perf_counter() - started
    collection.attrs["last_decloud_run"] = json.loads(json.dumps({**asdict(summary), "model": model}))
    return summary


def decloud_whole_image(model: str | Path, s1: np.ndarray, s2_cloudy: np.ndarray) -> np.ndarray:
    """Reference: the whole scene through the model at once (no tiling), as DN."""
    predictor = load_predictor(model)
    return network_to_optical_dn(predictor.predict(network_inputs(s1, s2_cloudy, predictor.config.input_mode)[None]))[0]
