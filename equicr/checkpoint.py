"""Checkpoints: trainable weights, the model config, optional optimizer state and run metadata.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``, so loading
never unpickles arbitrary objects. Only trainable parameters are stored: escnn's cached filter
buffers are derived from them and are rebuilt on load. Models are loaded in train mode and only
then switched to eval, because escnn caches expanded filters in eval mode and a state dict loaded
into an eval-mode model would leave that cache stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs
import torch
from torch import nn

from equicr.errors import UserError
from equicr.logs import RUN_SNAPSHOT_LOGGER, quiet_logger
from equicr.models import ModelConfig, build_model
from equicr.storage import atomic_output, join, local_path, normalise, uri

if TYPE_CHECKING:
    import ray.train

#: Identifies EquiCR checkpoint files and the layout version of their contents.
CHECKPOINT_FORMAT = "equicr-checkpoint"
CHECKPOINT_VERSION = 1
#: File name of the checkpoint inside each Ray Train checkpoint directory.
CHECKPOINT_FILE = "model.pt"
#: The reported metric that ranks a run's checkpoints (higher is better); Ray Train keeps the best.
BEST_METRIC = "val_psnr"


class CheckpointMismatchError(UserError):
    """A checkpoint does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    config: ModelConfig
    weights: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def trainable_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's trainable parameters by name, detached and on the CPU."""
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: ModelConfig,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: Any,
) -> Path:
    """Write a checkpoint atomically (temporary file, then rename), so a crash never leaves half a file.

    ``metadata`` holds plain values only (numbers, strings, lists, dicts), e.g. epoch and metrics.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": config.to_dict(),
        "weights": trainable_weights(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "metadata": metadata,
    }
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)
    return Path(path)


def read_checkpoint(path: str | Path, expected_config: ModelConfig | None = None) -> Checkpoint:
    """Read a checkpoint file (local or a URI); refuse one not ours or whose config differs from ``expected_config``."""
    path = local_path(path)
    payload = _load_payload(path)
    config = ModelConfig.from_dict(payload["model_config"])
    if expected_config is not None and config != expected_config:
        differences = ", ".join(
            f"{key}: checkpoint has {saved!r}, expected {wanted!r}"
            for key, (saved, wanted) in config.differences(expected_config).items()
        )
        raise CheckpointMismatchError(f"{path} was saved for a different model ({differences})")
    return Checkpoint(config, payload["weights"], payload["optimizer"], payload["metadata"])


def read_checkpoint_config(path: str | Path) -> ModelConfig:
    """The model config of a checkpoint file (local or a URI), without reading its tensors (memory-mapped)."""
    return ModelConfig.from_dict(_load_payload(local_path(path), mmap=True)["model_config"])


def read_checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """The run metadata of a checkpoint file (local or a URI): epoch, metrics, training config; no tensors read."""
    return _load_payload(local_path(path), mmap=True)["metadata"]


def _load_payload(path: Path, mmap: bool = False) -> dict:
    """A checkpoint file's contents, checked to be ours and of this version."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises several kinds for a damaged or foreign file
        raise CheckpointMismatchError(f"{path} is not a readable checkpoint: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointMismatchError(f"{path} is not an EquiCR checkpoint (no '{CHECKPOINT_FORMAT}' marker)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointMismatchError(
            f"{path} has checkpoint version {payload.get('version')}; this code reads version {CHECKPOINT_VERSION}"
        )
    return payload


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy ``weights`` into ``model``'s parameters, naming any missing, extra or misshapen tensor.

    The model is put in train mode first (escnn's eval-mode filter cache would go stale) and left there.
    """
    model.train()
    expected = dict(model.named_parameters())
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or extra:
        raise CheckpointMismatchError(f"{source}: missing weights {missing[:5]}, unexpected weights {extra[:5]}")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointMismatchError(
                f"{source}: weight {name} has shape {tuple(tensor.shape)}, model expects {tuple(expected[name].shape)}"
            )
    with torch.no_grad():
        for name, tensor in weights.items():
            expected[name].copy_(tensor)


def load_model(
    path: str | Path,
    expected_config: ModelConfig | None = None,
    device: str | torch.device = "cpu",
    eval_mode: bool = True,
) -> tuple[nn.Module, Checkpoint]:
    """Build the checkpoint's model without initialising it, load its weights, and return both.

    Args:
        path: checkpoint file, local or a URI.
        expected_config: refuse the checkpoint when its config differs from this one.
        device: where the model lives.
        eval_mode: switch to eval mode after loading (escnn then caches the expanded filters).
    """
    checkpoint = read_checkpoint(path, expected_config)
    model = build_model(checkpoint.config, initialize=False)
    load_weights(model, checkpoint.weights, source=str(path))
    model.to(device)
    if eval_mode:
        model.eval()
    return model, checkpoint


def checkpoint_file(checkpoint: ray.train.Checkpoint) -> str:
    """Location (path or URI) of the model file inside a Ray Train checkpoint directory."""
    return join(uri(checkpoint.filesystem, checkpoint.path), CHECKPOINT_FILE)


def best_checkpoint_file(result: ray.train.Result) -> str | None:
    """Location (path or URI) of the checkpoint file Ray Train ranks best by :data:`BEST_METRIC`, if any."""
    best = result.get_best_checkpoint(BEST_METRIC, "max") if result.best_checkpoints else None
    return None if best is None else checkpoint_file(best)


def resolve_checkpoint(location: str | Path) -> str:
    """A checkpoint file itself, or the best checkpoint file of a Ray Train run folder; a path or a URI.

    A run folder is read through Ray Train's own record of its checkpoints and their metrics
    (``Result.from_path``); no checkpoint is opened to choose.
    """
    text = str(location)
    absolute = text if "://" in text else str(Path(text).absolute())  # pyarrow and Ray want a scheme or a root
    filesystem, path = pyarrow.fs.FileSystem.from_uri(absolute)
    kind = filesystem.get_file_info(path).type
    if kind == pyarrow.fs.FileType.Directory:
        from ray.train import Result

        try:
            with quiet_logger(RUN_SNAPSHOT_LOGGER):  # reading a finished run is not a resumed job
                best = best_checkpoint_file(Result.from_path(absolute))
        except RuntimeError as error:  # Ray's words for "not a run folder"
            raise FileNotFoundError(f"{location} is a folder but not a Ray Train run: {error}") from error
        if best is None:
            raise FileNotFoundError(f"run folder {location} holds no checkpoint yet")
        return best
    if kind != pyarrow.fs.FileType.File:
        raise FileNotFoundError(f"{location} is neither a checkpoint file nor a Ray Train run folder")
    return normalise(location)
