"""Launch a training run with Ray Train's TorchTrainer, on a cluster or an embedded local Ray."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, Result, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from equicr.checkpoint import BEST_METRIC, checkpoint_file, read_checkpoint_metadata
from equicr.data.dataset import PatchDataset, split_indices
from equicr.errors import UserError
from equicr.executors import ActorPool, init_ray
from equicr.ingest.simulated import ensure_synthetic_patches
from equicr.storage import is_remote, join, normalise, redact
from equicr.training.config import DEFAULT_DATA, DEFAULT_SYNTHETIC_DATA, TrainConfig
from equicr.training.loop import train_loop_per_worker

#: The embedded default data set, made on first use: this many patches of this size.
DEFAULT_DATA_PATCHES = 96
DEFAULT_DATA_SIZE = 48
#: Checkpoints kept per run besides the latest: the best by validation PSNR.
CHECKPOINTS_KEPT = 2
#: Ray Train's own console messages at this level and above are shown. Its INFO lines (two per
#: epoch: "Checkpoint successfully created", "Reporting training result") would bury the
#: project's epoch lines; its warnings and errors stay.
RAY_TRAIN_LOG_LEVEL = "WARNING"


def ensure_default_data(path: Path = DEFAULT_DATA) -> str:
    """The embedded default collection, written (or finished) on first use.

    Real ground: composites of the backgrounds shipped in the package under simulated clouds. Where
    SatelliteCloudGenerator is not installed or the backgrounds are gone, synthetic scenes instead
    (``DEFAULT_SYNTHETIC_DATA``), with a line saying so.
    """
    from equicr.data.composite import CLOUD_GENERATOR_INSTALL, cloud_generator_installed
    from equicr.data.real import shipped_backgrounds

    backgrounds = shipped_backgrounds()
    missing = None
    if not cloud_generator_installed():
        missing = f"SatelliteCloudGenerator is not installed ({CLOUD_GENERATOR_INSTALL})"
    elif not backgrounds:
        missing = "the clear backgrounds shipped in equicr/assets are missing (reinstall equicr)"
    if missing:
        print(f"{missing}: training on synthetic scenes instead")
        return str(ensure_synthetic_patches(DEFAULT_SYNTHETIC_DATA, DEFAULT_DATA_PATCHES, DEFAULT_DATA_SIZE, seed=0))
    from equicr.ingest.simulated import write_composites

    report = write_composites(backgrounds, path, DEFAULT_DATA_PATCHES, DEFAULT_DATA_SIZE, seed=0, progress=False)
    if report.written:
        print(f"made {path}: {report.written} composites of {DEFAULT_DATA_SIZE} px over {len(backgrounds)} "
              "real clear backgrounds shipped in equicr/assets")  # fmt: skip
    return str(path)


def with_data(config: TrainConfig) -> TrainConfig:
    """The config with the embedded default data filled in when it names none, and local paths made absolute.

    Ray Train's workers need not share the driver's working directory, so a relative storage or
    data path is resolved here, against the directory the job was started in.
    """
    data = config.data if config.data is not None else ensure_default_data()
    return dataclasses.replace(config, data=absolute(data), storage_path=absolute(config.storage_path))


def absolute(location: str) -> str:
    """A local path made absolute (against the working directory); a URI unchanged."""
    return location if is_remote(location) else str(Path(normalise(location)).absolute())


def make_trainer(config: TrainConfig) -> TorchTrainer:
    """The TorchTrainer for a run; rerunning with the same run name and storage resumes it."""
    # Ray Train's print patch would log each worker print a second time.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    config = with_data(config)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config.to_dict(),
        scaling_config=ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker, **({"GPU": 1} if config.use_gpu else {})},
        ),
        run_config=RunConfig(
            name=config.run_name,
            storage_path=config.storage_path,
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(
                num_to_keep=CHECKPOINTS_KEPT, checkpoint_score_attribute=BEST_METRIC, checkpoint_score_order="max"
            ),
            logging_config=LoggingConfig(log_level=RAY_TRAIN_LOG_LEVEL),
        ),
    )


def run_training(config: TrainConfig) -> Result:
    """Train (or resume) a run to completion and return Ray's result; refuse what it cannot honour first."""
    config = with_data(config)
    preflight(config)
    init_ray()  # the cluster to join, or an embedded Ray with token authentication
    return make_trainer(config).fit()


#: The folder of a Ray session under which ``ray job submit --working-dir`` unpacks a job's files.
RAY_WORKING_DIR_COPY = "runtime_resources"


def preflight(config: TrainConfig) -> None:
    """Refuse, before any worker starts, what no retry could fix: errors name the setting and the fix.

    Ray Train restarts crashed workers up to ``max_failures`` times; a subset larger than the data,
    an empty validation split or a resumed run with other settings would fail the same way each time.
    Storage inside Ray's temporary copy of a job's working directory (``ray job submit --working-dir .``
    without ``--storage``) would be deleted with the Ray session, checkpoints and all.
    """
    if not is_remote(config.storage_path) and RAY_WORKING_DIR_COPY in Path(config.storage_path).resolve().parts:
        raise UserError(
            f"--storage {Path(config.storage_path).resolve()} lies in Ray's temporary copy of the job's working "
            "directory, which is deleted when the Ray session ends; pass --storage s3://BUCKET/runs or a shared "
            "absolute path"
        )
    if len(split_indices(config.data, "train", config.subset_size, config.seed)) == 0:
        raise UserError(f"{config.data} has no complete train patches to learn from")
    if len(split_indices(config.data, "val")) == 0:
        raise UserError(
            f"{config.data} has no complete val patches: every epoch is scored on them and the best checkpoint "
            "is chosen by them; ingest a val split first"
        )
    previous = previous_config(config)
    differences = config.resume_differences(previous) if previous is not None else {}
    if differences:
        changed = "; ".join(f"{name}: {old!r} then, {new!r} now" for name, (old, new) in differences.items())
        raise UserError(
            f"run {config.run_name} in {redact(config.storage_path)} was started with other settings ({changed}); "
            "resuming would keep the old optimizer and data. Rerun with the same settings, or pick a new --run-name"
        )


def previous_config(config: TrainConfig) -> TrainConfig | None:
    """The training config the run's latest checkpoint was saved with, or None for a new run."""
    run = join(config.storage_path, config.run_name)
    try:
        latest = Result.from_path(run).checkpoint
    except RuntimeError:  # no run folder, or no Ray Train record in it: a new run
        return None
    if latest is None:
        return None
    return TrainConfig.from_dict(read_checkpoint_metadata(checkpoint_file(latest))["train_config"])


def cloudy_input_metrics(data: str, split: str = "val") -> dict[str, float]:
    """Mean metrics of the "leave the clouds in" baseline: the cloudy input scored against the clear target."""
    from equicr.deploy.predictors import CLOUDY_INPUT
    from equicr.evaluation.aggregate import mean_of_records
    from equicr.evaluation.scoring import evaluate_split

    means = mean_of_records(evaluate_split(CLOUDY_INPUT, data, split, ActorPool(use_ray=False), progress=False))
    return {name: value for name, value in means.items() if name != "images"}


def save_validation_panels(checkpoint: Path, data: str, out: Path, count: int = 4) -> Path:
    """PNG of cloudy input, SAR, prediction and cloud-free target for the first validation patches."""
    from equicr.evaluation.report import save_samples

    available = len(PatchDataset(data, "val"))
    return save_samples(checkpoint, data, "val", list(range(min(count, available))), out)
