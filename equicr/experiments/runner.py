"""Run any preset's experiments end to end: data, training (Ray Train), evaluation, and the manifest.

Everything goes under one work folder::

    work/data/synthetic.zarr      the preset's synthetic collection (when it makes synthetic data)
    work/data/composites.zarr     its composites over real clear ground (when it makes composites)
    work/data/real.zarr           the real triplets of the real-data folder, all "test" (test-split presets)
    work/data/testbench/          the real-cloud test bench (test-bench presets)
    work/runs/<run>/              Ray Train checkpoints and history (or the --storage URI)
    work/eval/<target>/<run>/     evaluation reports of each run (and the cloudy-input baseline) per target
    work/manifest.json            per run: best checkpoint, training seconds, parameter count

Rerunning the same command resumes: a run whose evaluations are written is skipped, an
unfinished one resumes from its latest checkpoint, and a missing evaluation is redone.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from equicr.bands import has_sar_input
from equicr.data.collection import collection_has_sar
from equicr.data.dataset import split_indices
from equicr.data.real import DO_NO_HARM, load_real_data, real_triplets, triplet_records
from equicr.deploy.predictors import CLOUDY_INPUT, CLOUDY_INPUT_MODE
from equicr.errors import UserError
from equicr.evaluation.report import write_report
from equicr.evaluation.scoring import evaluate_split
from equicr.executors import ActorPool
from equicr.experiments.presets import VARIANTS, CompositeData, ExperimentPreset, ExperimentRun, SyntheticData
from equicr.ingest.geotiffs import ingest_triplets, write_test_bench
from equicr.ingest.simulated import ensure_synthetic_patches, write_composites
from equicr.models import build_model, count_parameters
from equicr.storage import write_json
from equicr.training.config import TrainConfig

MANIFEST = "manifest.json"
#: Evaluation targets of test-split presets: the test split, and the real triplets when they are there.
TEST, REAL = "test", "real"
#: The do-no-harm set scored against the model's own input rather than the clear date.
AGAINST_INPUT = "do-no-harm-vs-input"


def evaluation_folder(work: Path, target: str, name: str) -> Path:
    """The report folder of ``name`` (a run or the cloudy-input baseline) on ``target``."""
    return Path(work) / "eval" / target / name


def train_config(preset: ExperimentPreset, run: ExperimentRun, data: str, storage: str, train_size: int) -> TrainConfig:
    """One run's training config: the preset's settings, the run's model, augmentation, seed and subset.

    Every subset trains for as many steps as the whole training split (small subsets repeat).
    """
    return dataclasses.replace(
        preset.training, model=preset.model(run.variant, run.input_mode), data=data, subset_size=run.subset_size,
        augment=VARIANTS[run.variant].augment, seed=preset.training.seed if run.seed is None else run.seed,
        min_samples_per_epoch=train_size if run.subset_size else None, run_name=f"{preset.name}-{run.name}",
        storage_path=storage,
    )  # fmt: skip


def prepare_data(preset: ExperimentPreset, work: Path, data: str | None, real_data: Path | None) -> tuple[str, dict]:
    """The collection to train on (``data``, or the one the preset makes) and what the manifest records of it."""
    spec = preset.data
    if data is not None:
        if spec is not None:
            raise UserError(f"preset {preset.name!r} makes its own training data; drop --data")
        return data, {}
    if spec is None:
        raise UserError(f"preset {preset.name!r} needs --data: an ingested SEN12MS-CR patches collection")
    if isinstance(spec, SyntheticData):
        path = ensure_synthetic_patches(work / "data" / "synthetic.zarr", spec.count, spec.size, spec.seed,
                                        spec.split_fractions)  # fmt: skip
        return str(path), {}
    assert isinstance(spec, CompositeData)
    real = load_real_data(_real_data(preset, real_data))
    backgrounds = real.backgrounds + real.virginia(work / "data" / "virginia-training-tifs", "training")
    path = str(work / "data" / "composites.zarr")
    report = write_composites(backgrounds, path, spec.count, spec.size, spec.seed, progress=False)
    if report.failures:
        raise UserError(f"composites incomplete: {report.failures}")
    return path, {"backgrounds": len(backgrounds), "background_scenes": sorted({p.scene for p in backgrounds})}


def prepare_targets(preset: ExperimentPreset, work: Path, data: str, real_data: Path | None) -> dict[str, str]:
    """The collections every run is scored on, by name."""
    if preset.test_bench:
        return write_test_bench(load_real_data(_real_data(preset, real_data)), work / "data" / "testbench")
    targets = {TEST: data}
    if real_data is not None and (real_data / "sen12mscr-mini").is_dir():
        path = work / "data" / "real.zarr"
        report = ingest_triplets(triplet_records(real_triplets(real_data)), path, progress=False)
        if report.failures:
            raise UserError(f"could not ingest the real patches into {path}: {report.failures}")
        targets[REAL] = str(path)
    return targets


def _real_data(preset: ExperimentPreset, real_data: Path | None) -> Path:
    if real_data is None or not real_data.is_dir():
        raise UserError(f"preset {preset.name!r} needs a folder of real Sentinel data: pass --real-data DIR")
    return real_data


def targets_for(model_input_mode: str, targets: dict[str, str]) -> list[str]:
    """The targets a model of this input mode is scored on (SAR models need collections with SAR)."""
    return [t for t, c in targets.items() if not has_sar_input(model_input_mode) or collection_has_sar(c)]


def evaluate_once(
    preset: ExperimentPreset, model: str, input_mode: str, targets: dict[str, str], work: Path, name: str
) -> None:
    """Score ``model`` on every target it can be scored on (test split), skipping reports already written.

    The do-no-harm set is also scored against the model's own input (a model that leaves clear
    images alone scores a high PSNR there).
    """
    pool = ActorPool(preset.eval_actors, gpus_per_actor=preset.eval_gpus_per_actor) if preset.eval_actors > 1 else None
    for target in targets_for(input_mode, targets):
        jobs = [(target, False)] + ([(AGAINST_INPUT, True)] if target == DO_NO_HARM else [])
        for folder_name, against_input in jobs:
            folder = evaluation_folder(work, folder_name, name)
            if (folder / "summary.json").is_file():
                continue
            records = evaluate_split(model, targets[target], "test", pool, progress=False, against_input=against_input)
            suffix = ", against its own input" if against_input else ""
            write_report(records, folder, f"{name} on {target}{suffix}")


def is_evaluated(work: Path, name: str, input_mode: str, targets: dict[str, str]) -> bool:
    """Whether every report of ``name`` is written."""
    return all((evaluation_folder(work, t, name) / "summary.json").is_file() for t in targets_for(input_mode, targets))


def train_and_record(config: TrainConfig, train_size: int) -> dict:
    """Train one run of an experiment; return its manifest entry (best checkpoint, seconds, size)."""
    from equicr.checkpoint import best_checkpoint_file
    from equicr.training.launch import run_training

    started = time.perf_counter()
    result = run_training(config)
    if result.error:
        raise RuntimeError(f"run {config.run_name} failed: {result.error}")
    return {
        "checkpoint": best_checkpoint_file(result),
        "train_seconds": round(time.perf_counter() - started, 1),
        "parameters": count_parameters(build_model(config.model, initialize=False)),
        "epochs": config.epochs,
        "train_patches": config.subset_size or train_size,
    }


def run_experiments(
    preset: ExperimentPreset,
    work: str | Path,
    data: str | None = None,
    storage: str | None = None,
    real_data: Path | None = None,
) -> dict:
    """Train and evaluate every run of ``preset``; return the manifest (see the module docstring)."""
    work = Path(work)
    storage = storage or str(work / "runs")
    data, provenance = prepare_data(preset, work, data, real_data)
    targets = prepare_targets(preset, work, data, real_data)
    train_size = len(split_indices(data, "train"))
    manifest_path = work / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.update(preset=preset.name, data=data, targets=targets, train_size=train_size, storage=storage,
                    **provenance)  # fmt: skip
    manifest.setdefault("runs", {})
    evaluate_once(preset, CLOUDY_INPUT, CLOUDY_INPUT_MODE, targets, work, CLOUDY_INPUT)
    runs = preset.runs()
    for number, run in enumerate(runs, start=1):
        if run.name in manifest["runs"] and is_evaluated(work, run.name, run.input_mode, targets):
            print(f"[{number}/{len(runs)}] {run.name}: done already", flush=True)
            continue
        config = train_config(preset, run, data, storage, train_size)
        print(f"[{number}/{len(runs)}] {run.name}: training {config.model} for {config.epochs} epochs", flush=True)
        manifest["runs"][run.name] = {**dataclasses.asdict(run), **train_and_record(config, train_size)}
        evaluate_once(preset, manifest["runs"][run.name]["checkpoint"], run.input_mode, targets, work, run.name)
        write_json(manifest_path, manifest)
    write_json(manifest_path, manifest)
    return manifest
