"""Run a preset's experiments end to end: data, training (Ray Train), evaluation, and the report.

Everything goes under one work folder::

    work/data/synthetic.zarr      the preset's synthetic collection (when no data is given)
    work/data/real.zarr           the real patches of ../shared/data, all as "test"
    work/runs/<run>/              Ray Train checkpoints and history (or the --storage URI)
    work/eval/<target>/<run>/     evaluation reports on the test split ("test") and real patches ("real")
    work/manifest.json            per run: best checkpoint, training seconds, parameter count

Rerunning the same command resumes: a run whose evaluations are written is skipped, an
unfinished one resumes from its latest checkpoint, and a missing evaluation is redone.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from equicr.data.dataset import split_indices
from equicr.data.real import real_triplets, triplet_records
from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.errors import UserError
from equicr.evaluation.report import write_report
from equicr.evaluation.scoring import evaluate_split
from equicr.executors import ActorPool
from equicr.experiments.presets import ExperimentPreset, ExperimentRun
from equicr.ingest.geotiffs import ingest_triplets
from equicr.ingest.simulated import ensure_synthetic_patches
from equicr.models import build_model, count_parameters
from equicr.storage import write_json
from equicr.training.config import TrainConfig

MANIFEST = "manifest.json"
#: Evaluation targets: the preset's test split, and the real patches when they are there.
TEST, REAL = "test", "real"


@dataclasses.dataclass(frozen=True)
class ExperimentPaths:
    """Where one reproduction keeps its data, runs and evaluations."""

    work: Path
    storage: str  # Ray Train storage: a folder or an object-store URI

    def evaluation(self, target: str, name: str) -> Path:
        """The report folder of ``name`` (a run or the cloudy-input baseline) on ``target``."""
        return self.work / "eval" / target / name


def train_config(preset: ExperimentPreset, run: ExperimentRun, data: str, storage: str, train_size: int) -> TrainConfig:
    """The training config of one run: the preset's settings, the run's model and subset, equal steps for every size."""
    return dataclasses.replace(
        preset.training,
        model=preset.model(run.architecture, run.input_mode),
        data=data,
        subset_size=run.subset_size,
        min_samples_per_epoch=train_size if run.subset_size else None,
        run_name=f"{preset.name}-{run.name}",
        storage_path=storage,
    )


def prepare_data(preset: ExperimentPreset, work: Path, data: str | None) -> str:
    """The collection to train and test on: ``data`` when given, else the preset's synthetic one."""
    if data is not None:
        return data
    if preset.synthetic is None:
        raise UserError(f"preset {preset.name!r} needs --data: an ingested SEN12MS-CR patches collection")
    spec = preset.synthetic
    path = ensure_synthetic_patches(work / "data" / "synthetic.zarr", spec.count, spec.size, spec.seed,
                                    spec.split_fractions)  # fmt: skip
    return str(path)


def prepare_real_patches(work: Path, shared_data: Path | None) -> str | None:
    """A patches collection of the shared real triplets (all "test"), or None when there are none."""
    if shared_data is None or not (shared_data / "sen12mscr-mini").is_dir():
        return None
    path = work / "data" / "real.zarr"
    report = ingest_triplets(triplet_records(real_triplets(shared_data)), path, progress=False)
    if report.failures:
        raise UserError(f"could not ingest the real patches into {path}: {report.failures}")
    return str(path)


def evaluate_once(preset: ExperimentPreset, model: str, collection: str, folder: Path, title: str) -> None:
    """Evaluate ``model`` on the test split of ``collection`` into ``folder`` unless that report exists."""
    if (folder / "summary.json").is_file():
        return
    records = evaluate_split(
        model, collection, "test", ActorPool(preset.eval_actors, gpus_per_actor=preset.eval_gpus_per_actor)
    )
    write_report(records, folder, title)


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
    shared_data: Path | None = None,
) -> dict:
    """Train and evaluate every run of ``preset``; return the manifest (see the module docstring)."""
    work = Path(work)
    paths = ExperimentPaths(work, storage or str(work / "runs"))
    data = prepare_data(preset, work, data)
    targets = {TEST: data}
    real = prepare_real_patches(work, shared_data)
    if real is not None:
        targets[REAL] = real
    train_size = len(split_indices(data, "train"))
    manifest_path = work / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.update(preset=preset.name, data=data, targets=targets, train_size=train_size, storage=paths.storage)
    manifest.setdefault("runs", {})

    for target, collection in targets.items():
        baseline_folder = paths.evaluation(target, CLOUDY_INPUT)
        evaluate_once(preset, CLOUDY_INPUT, collection, baseline_folder, f"cloudy input on {target}")
    runs = preset.runs()
    for number, run in enumerate(runs, start=1):
        done = manifest["runs"].get(run.name, {})
        if done and all((paths.evaluation(t, run.name) / "summary.json").is_file() for t in targets):
            print(f"[{number}/{len(runs)}] {run.name}: done already")
            continue
        config = train_config(preset, run, data, paths.storage, train_size)
        print(f"[{number}/{len(runs)}] {run.name}: training {config.model} for {config.epochs} epochs")
        manifest["runs"][run.name] = {**dataclasses.asdict(run), **train_and_record(config, train_size)}
        checkpoint = manifest["runs"][run.name]["checkpoint"]
        for target, collection in targets.items():
            evaluate_once(preset, checkpoint, collection, paths.evaluation(target, run.name), f"{run.name} on {target}")
        write_json(manifest_path, manifest)
    write_json(manifest_path, manifest)
    return manifest
