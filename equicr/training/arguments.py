"""The training job's command line: its flags, and the :class:`TrainConfig` they describe.

In the library (not in ``jobs/train.py``) so that tests and other launchers build the same config
from the same flags. Light to import: argument parsing never waits for torch or escnn.
"""

from __future__ import annotations

import argparse
import dataclasses

from equicr.bands import INPUT_MODES
from equicr.models import ARCHITECTURES, GROUPS, PRECISIONS
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
    "batch_size": "batch_size", "lr": "learning_rate", "sam_weight": "sam_weight", "precision": "precision",
    "workers": "num_workers",
    "activation_checkpointing": "activation_checkpointing",
    "gpu": "use_gpu", "cpus_per_worker": "cpus_per_worker", "loader_workers": "loader_workers",
    "max_failures": "max_failures", "seed": "seed", "run_name": "run_name", "storage": "storage_path",
}  # fmt: skip
#: Every symmetry group some architecture offers, in a stable order.
ALL_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(group for groups in GROUPS.values() for group in groups))


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The preset, model and training flags of ``jobs/train.py``."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="starting point (default: demo)")
    model = parser.add_argument_group("model (default: the preset's)")
    model.add_argument("--architecture", choices=ARCHITECTURES)
    model.add_argument("--width", type=int, help="regular fields (EquiCR) or channels (DSen2-CR)")
    model.add_argument("--blocks", type=int, help="residual blocks")
    model.add_argument("--input-mode", choices=INPUT_MODES)
    model.add_argument("--group", choices=ALL_GROUPS, help="symmetry group")
    run = parser.add_argument_group("training (default: the preset's)")
    run.add_argument(
        "--data",
        help="patches collection (path or URI); omitted: made on first use in ./data, composites of the real clear "
        "backgrounds shipped in the package under simulated clouds",
    )
    run.add_argument("--subset-size", type=int, help="train on a nested subset of N patches (Table II)")
    run.add_argument(
        "--min-samples-per-epoch", type=int, help="repeat a small subset within each epoch up to N samples"
    )
    run.add_argument("--augment", action="store_true", default=None, help="random rot90 and flips")
    run.add_argument("--epochs", type=int)
    run.add_argument("--batch-size", type=int, help="global batch, split over workers")
    run.add_argument("--lr", type=float, help="Adam learning rate")
    run.add_argument(
        "--sam-weight", type=float,
        help="add this times the mean spectral angle (radians) to the L1 loss: keeps the colours of the bands in step",
    )  # fmt: skip
    run.add_argument("--precision", choices=PRECISIONS)
    run.add_argument(
        "--activation-checkpointing", action=argparse.BooleanOptionalAction, default=None,
        help="recompute each block's activations in the backward pass: less memory, about 1/3 more compute",
    )  # fmt: skip
    run.add_argument("--workers", type=int, help="Ray Train workers (DDP replicas)")
    run.add_argument("--gpu", action="store_true", default=None, help="one GPU per worker (NCCL)")
    run.add_argument("--cpus-per-worker", type=int)
    run.add_argument("--loader-workers", type=int, help="DataLoader processes per worker")
    run.add_argument("--max-failures", type=int, help="worker-group restarts from the last checkpoint")
    run.add_argument("--seed", type=int)
    run.add_argument("--run-name", help="rerun with the same name and storage to resume")
    run.add_argument("--storage", help="folder or object-store URI for checkpoints and history")
    show_preset_values(parser)


def show_preset_values(parser: argparse.ArgumentParser) -> None:
    """Append the presets' values to the help of every flag that overrides one, e.g. ``(demo: 6; paper: 156)``."""
    for action in parser._actions:  # argparse's own list of what was added
        if action.dest in MODEL_FLAGS:
            values = {name: getattr(preset.model, MODEL_FLAGS[action.dest]) for name, preset in PRESETS.items()}
        elif action.dest in TRAIN_FLAGS:
            values = {name: getattr(preset, TRAIN_FLAGS[action.dest]) for name, preset in PRESETS.items()}
        else:
            continue
        shown = {name: "none" if value is None else str(value) for name, value in sorted(values.items())}
        if len(set(shown.values())) == 1:
            suffix = f"(every preset: {next(iter(shown.values()))})"
        else:
            suffix = "(" + "; ".join(f"{name}: {value}" for name, value in shown.items()) + ")"
        action.help = f"{action.help} {suffix}" if action.help else suffix


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset with every given flag applied.

    Switching architecture keeps the preset's parameter budget: the other architecture is built at
    the width whose parameter count is closest, as the paper compares them (unless ``--width`` is given).
    """
    preset = PRESETS[args.preset]
    model_changes = {
        field: getattr(args, flag) for flag, field in MODEL_FLAGS.items() if getattr(args, flag) is not None
    }
    architecture = model_changes.pop("architecture", preset.model.architecture)
    switching = architecture != preset.model.architecture
    group = model_changes.pop("group", None) if switching else None  # a group of the other architecture
    model = dataclasses.replace(preset.model, **model_changes)
    if architecture != model.architecture:
        from equicr.models import equal_parameter_config  # builds networks: torch and escnn

        width = model_changes.get("width")
        model = equal_parameter_config(model, architecture)
        model = dataclasses.replace(model, width=width or model.width, group=group)
    changes = {field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None}
    return dataclasses.replace(preset, model=model, **changes)
