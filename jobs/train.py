r"""Train EquiCR or DSen2-CR with Ray Train.

    python jobs/train.py                                  # embedded default: local Ray, synthetic data, small EquiCR
    python jobs/train.py --data data/sen12mscr.zarr --architecture dsen2cr --subset-size 1000
    ray job submit --working-dir . -- python jobs/train.py --preset paper --data s3://bucket/sen12mscr.zarr \\
        --storage s3://bucket/runs

Rerunning the same command (same --run-name and --storage) resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from equicr.bands import INPUT_MODES
from equicr.models import ARCHITECTURES, equal_parameter_config
from equicr.training.config import PRESETS, TrainConfig

#: Command-line flags that override fields of the model config, and of the training config.
MODEL_FLAGS = {
    "architecture": "architecture",
    "width": "width",
    "blocks": "num_blocks",
    "input_mode": "input_mode",
    "group": "group",
}
TRAIN_FLAGS = {
    "data": "data", "subset_size": "subset_size",
    "min_samples_per_epoch": "min_samples_per_epoch", "augment": "augment", "epochs": "epochs",
    "batch_size": "batch_size", "lr": "learning_rate", "precision": "precision", "workers": "num_workers",
    "gpu": "use_gpu", "cpus_per_worker": "cpus_per_worker", "loader_workers": "loader_workers",
    "max_failures": "max_failures", "seed": "seed", "run_name": "run_name", "storage": "storage_path",
}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="starting point (default: demo)")
    model = parser.add_argument_group("model (default: the preset's)")
    model.add_argument("--architecture", choices=ARCHITECTURES)
    model.add_argument("--width", type=int, help="regular fields (EquiCR) or channels (DSen2-CR)")
    model.add_argument("--blocks", type=int, help="residual blocks")
    model.add_argument("--input-mode", choices=INPUT_MODES)
    model.add_argument("--group", choices=["p4", "p4m", "trivial"], help="symmetry group")
    run = parser.add_argument_group("training (default: the preset's)")
    run.add_argument("--data", help="patches collection; omitted: the embedded synthetic default")
    run.add_argument("--subset-size", type=int, help="train on a nested subset of N patches (Table II)")
    run.add_argument(
        "--min-samples-per-epoch", type=int, help="repeat a small subset within each epoch up to N samples"
    )
    run.add_argument("--augment", action="store_true", default=None, help="random rot90 and flips")
    run.add_argument("--epochs", type=int)
    run.add_argument("--batch-size", type=int, help="global batch, split over workers (paper: 8)")
    run.add_argument("--lr", type=float, help="Adam learning rate (paper: 3e-4)")
    run.add_argument("--precision", choices=["fp32", "bf16"])
    run.add_argument("--workers", type=int, help="Ray Train workers (DDP replicas)")
    run.add_argument("--gpu", action="store_true", default=None, help="one GPU per worker (NCCL)")
    run.add_argument("--cpus-per-worker", type=int)
    run.add_argument("--loader-workers", type=int, help="DataLoader processes per worker")
    run.add_argument("--max-failures", type=int, help="worker-group restarts from the last checkpoint")
    run.add_argument("--seed", type=int)
    run.add_argument("--run-name", help="rerun with the same name and storage to resume")
    run.add_argument("--storage", help="folder or object-store URI for checkpoints and history")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every given flag applied."""
    preset = PRESETS[args.preset]
    model_changes = {
        field: getattr(args, flag) for flag, field in MODEL_FLAGS.items() if getattr(args, flag) is not None
    }
    architecture = model_changes.pop("architecture", preset.model.architecture)
    model = dataclasses.replace(preset.model, **model_changes)
    if architecture != model.architecture:
        # The other architecture at the preset's parameter count, as the paper compares them.
        width = model_changes.get("width")
        model = equal_parameter_config(model, architecture)
        model = dataclasses.replace(model, width=width or model.width, group=model_changes.get("group"))
    changes = {field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    return dataclasses.replace(preset, model=model, **changes)


def main(argv: list[str] | None = None) -> int:
    from equicr.storage import local_path
    from equicr.training.launch import (
        best_checkpoint_file,
        cloudy_input_metrics,
        run_training,
        save_validation_panels,
        with_data,
    )

    config = with_data(config_from_args(parse_args(argv)))
    print(
        f"training {config.model} for {config.epochs} epochs on {config.num_workers} worker(s); run {config.run_name}"
    )
    baseline = cloudy_input_metrics(config.data)
    print("baseline, the cloudy input itself on val:  " + "  ".join(f"{k} {v:.4f}" for k, v in baseline.items()))
    result = run_training(config)
    if result.error:
        print(f"training failed: {result.error}", file=sys.stderr)
        return 1
    print(f"final metrics: { {k: round(v, 4) for k, v in result.metrics.items()} }")
    best = best_checkpoint_file(result, config)
    print(f"best checkpoint: {best}")
    if best is not None:
        local = local_path(best)  # a copy in the local cache when the run's storage is an object store
        panels = save_validation_panels(local, config.data, local.parent / "validation_samples.png")
        print(f"validation samples (cloudy, SAR, prediction, target): {panels}")
    print(f"metric history: {config.storage_path}/{config.run_name}/history.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
