"""The per-worker training loop Ray Train runs, and the epoch helpers it is made of.

Each worker builds the model, restores the latest checkpoint when Ray hands one over (resume and
fault tolerance), wraps the model in DDP, reads its own share of the training split, and per epoch
trains, evaluates its share of the validation split, and reports metrics summed over all workers.
Rank 0 attaches the checkpoint and writes the metric history file.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, Subset

from equicr.checkpoint import CHECKPOINT_FILE, load_weights, read_checkpoint, save_checkpoint
from equicr.data.dataset import PatchDataset
from equicr.metrics import HIGHER_IS_BETTER, image_metrics
from equicr.models import build_model, set_activation_checkpointing
from equicr.scaling import network_to_reflectance
from equicr.storage import join, redacted, write_json
from equicr.training.config import TrainConfig

#: File name of the metric history, beside the run's checkpoints.
HISTORY_FILE = "history.json"


def autocast(device: torch.device, precision: str):
    """bfloat16 autocast when asked for, else nothing."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


class StepProgress:
    """Progress lines within an epoch, at most one per ``every_seconds``: a paper epoch is 114,056 patches."""

    def __init__(self, epoch: int, epochs: int, steps: int, every_seconds: float, world_size: int = 1) -> None:
        self.label, self.steps = f"{epoch + 1}/{epochs}", steps
        self.every_seconds, self.world_size = every_seconds, world_size
        self.started = self.last = time.perf_counter()

    def update(self, step: int, loss_sum: float, samples: int) -> None:
        """Called after each step (1-based) with this worker's running loss sum and sample count."""
        now = time.perf_counter()
        if now - self.last < self.every_seconds or step == self.steps:
            return
        self.last = now
        rate = samples * self.world_size / (now - self.started)
        print(
            f"epoch {self.label}  step {step}/{self.steps}  loss {loss_sum / max(samples, 1):.4f}  "
            f"{rate:.1f} samples/s",
            flush=True,
        )


def spectral_angle(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean angle (radians) between predicted and true 13-band spectra, differentiable: the loss's colour term."""
    cosine = F.cosine_similarity(prediction, target, dim=1, eps=1e-6)
    return torch.arccos(cosine.clamp(-1 + 1e-6, 1 - 1e-6)).mean()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    precision: str = "fp32",
    progress: StepProgress | None = None,
    sam_weight: float = 0.0,
) -> dict[str, float]:
    """One pass of training on L1 (plus ``sam_weight`` times the mean spectral angle); returns the summed loss."""
    model.train()
    loss_sum, samples = 0.0, 0
    for step, batch in enumerate(loader, start=1):
        inputs, target = batch["inputs"].to(device), batch["target"].to(device)
        with autocast(device, precision):
            prediction = model(inputs)
        loss = F.l1_loss(prediction.float(), target)
        if sam_weight:
            loss = loss + sam_weight * spectral_angle(prediction.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach()) * len(inputs)
        samples += len(inputs)
        if progress is not None:
            progress.update(step, loss_sum, samples)
    return {"loss_sum": loss_sum, "samples": samples}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Sums of the per-image metrics (on reflectance) over a loader, plus the image count."""
    model.eval()
    sums = dict.fromkeys(HIGHER_IS_BETTER, 0.0)
    count = 0
    for batch in loader:
        prediction = model(batch["inputs"].to(device)).float()
        per_image = image_metrics(
            network_to_reflectance(prediction), network_to_reflectance(batch["target"].to(device))
        )
        for name, values in per_image.items():
            sums[name] += float(values.sum())
        count += len(prediction)
    model.train()
    return {**sums, "count": count}


def all_reduce_sums(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Sum each value over all workers (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist(), strict=True))


def write_history(storage_path: str, run_name: str, history: list[dict]) -> None:
    """Write the metric history as strict JSON beside the run's checkpoints (local path or object-store URI)."""
    write_json(join(storage_path, run_name, HISTORY_FILE), history)


def repeated(dataset: Dataset, min_samples: int | None) -> Dataset:
    """``dataset`` repeated a whole number of times, enough to hold ``min_samples`` (unchanged when None).

    Training subsets of different sizes for the same number of steps (the paper's Table II) keeps the
    comparison about the amount of data, not the amount of training.
    """
    if min_samples is None or len(dataset) >= min_samples:
        return dataset
    copies = -(-min_samples // len(dataset))
    return ConcatDataset([dataset] * copies)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def quiet_report_logging() -> None:
    """Silence Ray Train's per-report INFO line on this worker, keeping its warnings.

    Ray Train 2.60 logs "Reporting training result ..." through a logger named by its source file's
    path, not under ``ray.train``, so ``RunConfig(logging_config=...)`` does not reach it.
    """
    from ray.train.v2._internal.execution import context

    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def train_loop_per_worker(loop_config: dict) -> None:
    """What every Ray Train worker runs; ``loop_config`` is :meth:`TrainConfig.to_dict` output."""
    quiet_report_logging()
    config = TrainConfig.from_dict(loop_config)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)  # identical initial weights on every rank (DDP also broadcasts them)

    restored = ray.train.get_checkpoint()
    model = build_model(config.model, initialize=restored is None)  # a checkpoint overwrites the weights
    set_activation_checkpointing(model, config.activation_checkpointing)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    start_epoch, history = 0, []
    if restored is not None:
        with restored.as_directory() as directory:
            checkpoint = read_checkpoint(Path(directory) / CHECKPOINT_FILE, expected_config=config.model)
        load_weights(model, checkpoint.weights, source="Ray checkpoint")
        optimizer.load_state_dict(checkpoint.optimizer_state)
        start_epoch = checkpoint.metadata["epoch"] + 1
        history = checkpoint.metadata["history"]
        if "torch_rng_state" in checkpoint.metadata:  # augmentation and loader seeds go on as if never stopped
            torch.set_rng_state(torch.tensor(checkpoint.metadata["torch_rng_state"], dtype=torch.uint8))
    # escnn keeps large basis buffers that never change: no need to broadcast them every step.
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"broadcast_buffers": False})

    data = config.data
    train_set = repeated(
        PatchDataset(data, "train", config.model.input_mode, config.subset_size, config.seed, config.augment),
        config.min_samples_per_epoch,
    )
    sampler = DistributedSampler(train_set, num_replicas=max(world, 1), rank=rank, shuffle=True, seed=config.seed)
    train_loader = DataLoader(
        train_set, batch_size=config.worker_batch_size, sampler=sampler, num_workers=config.loader_workers
    )
    val_set = PatchDataset(data, "val", config.model.input_mode)
    val_loader = DataLoader(
        Subset(val_set, range(rank, len(val_set), max(world, 1))), batch_size=config.worker_batch_size
    )

    if restored is not None and rank == 0:
        remaining = max(config.epochs - start_epoch, 0)
        note = "" if remaining else "; nothing left to do (raise --epochs or pick another --run-name)"
        print(f"resuming {config.run_name} after epoch {start_epoch} of {config.epochs}{note}", flush=True)
    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        progress = StepProgress(epoch, config.epochs, len(train_loader), config.progress_seconds, max(world, 1))
        train_sums = all_reduce_sums(
            train_one_epoch(
                model,
                train_loader,
                optimizer,
                device,
                config.precision,
                progress if rank == 0 else None,
                config.sam_weight,
            ),
            device,
        )
        seconds = time.perf_counter() - started
        val_sums = all_reduce_sums(evaluate(_unwrap(model), val_loader, device), device)
        metrics = {
            "epoch": epoch,
            "train_loss": train_sums["loss_sum"] / max(train_sums["samples"], 1),
            **{f"val_{name}": val_sums[name] / max(val_sums["count"], 1) for name in HIGHER_IS_BETTER},
            "samples_per_second": train_sums["samples"] / seconds,
        }
        history.append(metrics)
        with tempfile.TemporaryDirectory() as directory:
            checkpoint = None
            if rank == 0:
                save_checkpoint(
                    Path(directory) / CHECKPOINT_FILE, _unwrap(model), config.model, optimizer,
                    epoch=epoch, metrics=metrics, history=history, train_config=redacted(config.to_dict()),
                    torch_rng_state=torch.get_rng_state().tolist(),  # so a resumed --augment run is bit-identical
                )  # fmt: skip
                write_history(config.storage_path, config.run_name, history)
                checkpoint = ray.train.Checkpoint.from_directory(directory)
                print(format_progress(metrics, config.epochs), flush=True)
            ray.train.report(metrics, checkpoint=checkpoint)


def format_progress(metrics: dict, epochs: int) -> str:
    """One progress line: epoch, loss, validation metrics and throughput."""
    return (
        f"epoch {metrics['epoch'] + 1}/{epochs}  loss {metrics['train_loss']:.4f}  "
        f"val PSNR {metrics['val_psnr']:.2f} dB  MAE {metrics['val_mae']:.4f}  SSIM {metrics['val_ssim']:.4f}  "
        f"SAM {metrics['val_sam']:.2f} deg  {metrics['samples_per_second']:.1f} samples/s"
    )
