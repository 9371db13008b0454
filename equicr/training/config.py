"""The training configuration, its presets, and where runs and the embedded default data live."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from equicr.errors import UserError
from equicr.models import PRECISIONS, ModelConfig, Precision
from equicr.paths import DEFAULT_DATA_DIR, DEFAULT_RUNS_DIR

#: Where runs and the embedded default data go when no storage is given (relative to the working
#: directory): real-ground composites of the shipped backgrounds, or synthetic scenes where those
#: cannot be made.
DEFAULT_STORAGE = DEFAULT_RUNS_DIR
DEFAULT_DATA = DEFAULT_DATA_DIR / "composites-default.zarr"
DEFAULT_SYNTHETIC_DATA = DEFAULT_DATA_DIR / "synthetic-default.zarr"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; the defaults are the paper's optimiser settings."""

    model: ModelConfig = field(default_factory=ModelConfig)  # architecture, width, blocks, input mode
    data: str | None = None  # patches collection (path or URI); None = the embedded synthetic default
    subset_size: int | None = None  # train on a nested subset of this many patches (paper: 100, 1000, all)
    augment: bool = False  # random rot90 and flip of each training sample
    min_samples_per_epoch: int | None = None  # repeat the (sub)set within an epoch up to this many samples
    epochs: int = 10  # passes over the training subset
    batch_size: int = 8  # global batch, split evenly over the workers (paper: 8)
    learning_rate: float = 3e-4  # Adam (paper: 3e-4)
    sam_weight: float = 0.0  # loss = L1 + sam_weight * mean spectral angle in radians (0: the paper's L1 alone)
    precision: Precision = "fp32"  # "bf16" trains under bfloat16 autocast
    activation_checkpointing: bool = False  # recompute block activations in backward: less memory, ~1/3 more compute
    num_workers: int = 1  # Ray Train workers (data-parallel replicas); 0 runs in this process
    use_gpu: bool = False  # one GPU per worker
    cpus_per_worker: int = 1  # CPU cores per worker (Ray sets each worker's torch threads to this)
    loader_workers: int = 0  # DataLoader worker processes per Ray worker
    max_failures: int = 2  # times a crashed worker group is restarted from the last checkpoint
    seed: int = 0  # weight initialisation, subset choice and shuffling
    run_name: str = "equicr-demo"  # resuming reruns the same name under the same storage
    storage_path: str = str(DEFAULT_STORAGE)  # local folder (relative: to the working directory) or object-store URI
    progress_seconds: float = 30.0  # a progress line within an epoch at most this often (rank 0)

    def __post_init__(self) -> None:
        at_least_one = {
            "epochs": self.epochs, "batch_size": self.batch_size, "subset_size": self.subset_size,
            "min_samples_per_epoch": self.min_samples_per_epoch, "cpus_per_worker": self.cpus_per_worker,
        }  # fmt: skip
        for name, value in at_least_one.items():
            if value is not None and value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        if self.num_workers < 0 or self.loader_workers < 0 or self.max_failures < 0:
            raise UserError("num_workers, loader_workers and max_failures must not be negative")
        if self.sam_weight < 0:
            raise UserError(f"sam_weight must not be negative, got {self.sam_weight}")
        if not self.learning_rate > 0:
            raise UserError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.batch_size % max(self.num_workers, 1):
            raise UserError(f"batch_size {self.batch_size} does not split evenly over {self.num_workers} workers")
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")

    def resume_differences(self, previous: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Settings of this config that differ from ``previous`` and that a resumed run cannot change.

        The optimizer state, the data order and the subset come from the first run: resuming with
        other data, model, learning rate, batch size, subset or seed would mix two runs under one name.
        More epochs, other resources and another memory trade-off are fine.
        """
        fixed = ("model", "data", "subset_size", "augment", "min_samples_per_epoch", "batch_size", "learning_rate",
                 "sam_weight", "precision", "seed")  # fmt: skip
        return {name: (getattr(previous, name), getattr(self, name)) for name in fixed
                if getattr(previous, name) != getattr(self, name)}  # fmt: skip

    @property
    def worker_batch_size(self) -> int:
        """Samples per step on each worker."""
        return self.batch_size // max(self.num_workers, 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (the model config nested), for Ray's train_loop_config and checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output."""
        values = dict(values)
        values["model"] = ModelConfig.from_dict(values["model"])
        return cls(**values)


#: Named starting points; command-line flags override single fields.
PRESETS: dict[str, TrainConfig] = {
    # A few minutes on 2 CPU cores: small EquiCR on composites of the shipped real backgrounds. Optical
    # input: those backgrounds carry no Sentinel-1, so a SAR+optical model would learn from an empty column.
    "demo": TrainConfig(
        model=ModelConfig("equicr", width=6, num_blocks=3, input_mode="opt"),
        epochs=15,
        learning_rate=1e-3,
        cpus_per_worker=2,
        run_name="equicr-demo",
    ),
    # The paper's full-size run on a GPU cluster (the paper's settings): batch 8 over 4 GPU workers, one
    # per g5.xlarge node of cluster.yaml (4 vCPU, one 24 GB A10G). 2 patches of 256 px per worker need
    # about 14 GiB without activation checkpointing (bench/memory.py, an estimate; docs/capacity.md), so
    # it stays off: --activation-checkpointing brings that to about 11 GiB for about 1.2-1.3x the step time.
    "paper": TrainConfig(
        model=ModelConfig("equicr"),
        epochs=30,
        num_workers=4,
        use_gpu=True,
        cpus_per_worker=4,
        precision="fp32",
        loader_workers=4,
        run_name="equicr-paper",
    ),  # fmt: skip
}
