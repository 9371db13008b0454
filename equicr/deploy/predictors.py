"""Backends that turn network inputs into network outputs, for declouding and evaluation alike.

A model is named by a string: a checkpoint file, a Ray Train run folder (its best checkpoint), an
``.onnx`` file, each a path or an object-store URI, or :data:`CLOUDY_INPUT`, the "leave the clouds
in" baseline. :func:`resolve_model` turns that name into a :class:`ModelReference` once, at the
edge of a job (one file, its hash and what it expects), and every actor builds its predictor from
that reference with :func:`load_predictor`, which fetches the file once per node and refuses it
when its SHA-256 is not the reference's (the file was replaced after the job started). Each
predictor loads once and exposes
``predict(inputs: (N, C, H, W) float32) -> (N, 13, H, W) float32`` in network units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import torch

from equicr.bands import InputMode, optical_channels
from equicr.checkpoint import load_model, read_checkpoint_config, resolve_checkpoint
from equicr.deploy.export import plain_torch_model
from equicr.deploy.inference import PreparedModel
from equicr.deploy.metadata import parse_metadata
from equicr.deploy.reports import require_passing_report
from equicr.errors import UserError
from equicr.hardware import choose_precision
from equicr.models import CLOUDY_INPUT, ModelConfig
from equicr.storage import file_sha256, local_path, normalise, redact

#: The input mode of the cloudy-input baseline: it needs the cloudy optical image only.
CLOUDY_INPUT_MODE: InputMode = "opt"


@dataclass(frozen=True)
class ModelReference:
    """A model resolved once: one file (path or URI), how to run it, its SHA-256 and its config.

    The cloudy-input baseline has no file, hash or config. The reference is small and picklable,
    so a driver hands it to Ray actors instead of the name they would each resolve again.
    """

    location: str
    backend: str  # "torch", "onnx" or CLOUDY_INPUT
    sha256: str | None = None
    config: ModelConfig | None = None
    given: str | None = None  # the location as the user gave it (a run folder, a relative path), if it differs

    @property
    def input_mode(self) -> InputMode:
        """The sensor images the model reads."""
        return self.config.input_mode if self.config is not None else CLOUDY_INPUT_MODE

    @property
    def receptive_field_radius(self) -> int:
        """Pixels beyond a tile that influence it (0 for the baseline, which looks at each pixel alone)."""
        return self.config.receptive_field_radius if self.config is not None else 0

    def record(self) -> dict:
        """What an output records about the model that made it.

        The location as the user gave it (credentials removed; not this machine's absolute path of
        it), the SHA-256 of the exact file that ran, and its config.
        """
        config = self.config.to_dict() if self.config is not None else None
        return {"model": redact(self.given or self.location), "model_sha256": self.sha256, "model_config": config}


def resolve_model(model: str | Path | ModelReference, precision: str = "fp32", device: str = "cpu") -> ModelReference:
    """The reference a model name stands for; reads the config without loading any weights.

    For a float32 ONNX file and ``precision="auto"``, the verified reduced-precision file beside it
    that ``device`` runs natively, if there is one (:func:`equicr.deploy.reduced.preferred_variant`).

    Raises:
        FileNotFoundError: no such file or run folder.
        ValueError: the file is not an EquiCR checkpoint or ONNX export, or an ONNX file has no
            passing verification report for its exact content (:mod:`equicr.deploy.gate`).
    """
    if isinstance(model, ModelReference):
        return model
    if str(model) == CLOUDY_INPUT:
        return ModelReference(CLOUDY_INPUT, CLOUDY_INPUT)
    if not str(model).endswith(".onnx"):
        location = resolve_checkpoint(model)
        local = local_path(location)  # one download when the file is on object storage
        return ModelReference(location, "torch", file_sha256(local), read_checkpoint_config(local), str(model))
    local = local_path(model)  # a cached copy when the file is on object storage
    if not local.is_file():
        raise FileNotFoundError(f"ONNX file {model} does not exist")
    if precision == "bf16":
        raise UserError(f"{model}: an ONNX file has no bfloat16 form; use --precision auto or fp32")
    if precision == "auto":
        from equicr.deploy.reduced import preferred_variant

        chosen, _ = preferred_variant(str(model), precision, device)
        if chosen != str(model):
            model, local = chosen, local_path(chosen)
    try:
        graph = onnx.load(str(local), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise UserError(f"{model} is not a readable ONNX file: {error}") from error
    config = ModelConfig.from_dict(parse_metadata({p.key: p.value for p in graph.metadata_props})["model_config"])
    sha256 = file_sha256(local)
    require_passing_report(model, sha256)  # the deployment gate: only a file verified as it is now runs
    return ModelReference(normalise(model), "onnx", sha256, config, str(model))


class Predictor(Protocol):
    """What declouding and evaluation need from a backend."""

    reference: ModelReference
    source: dict  # the reference plus how it runs here (device, precision, provider), for records

    def predict(self, inputs: np.ndarray) -> np.ndarray: ...


class TorchPredictor:
    """A checkpoint run as plain PyTorch (EquiCR exported from escnn), channels-last, in float32 or bfloat16."""

    def __init__(self, reference: ModelReference, local: Path, device: str = "cpu", precision: str = "fp32") -> None:
        self.precision = choose_precision(precision, device)  # "auto": bfloat16 only where the device has it natively
        model, _ = load_model(local, expected_config=reference.config, device=device)
        self.model = PreparedModel(plain_torch_model(model), self.precision.precision).to(device)
        self.device = device
        self.reference = reference
        self.source = {**reference.record(), "backend": "torch", "device": device,
                       "precision": self.precision.precision, "precision_reason": self.precision.reason}  # fmt: skip

    @torch.inference_mode()
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(inputs).to(self.device)).float().cpu().numpy()


class OnnxPredictor:
    """An exported ONNX file run with ONNX Runtime on the best provider available."""

    def __init__(self, reference: ModelReference, local: Path) -> None:
        try:
            from equicr.deploy.runtime import CloudRemovalSession
        except ImportError as error:  # checkpoints run without it; an ONNX file cannot
            raise UserError(
                f"running {redact(reference.location)} needs ONNX Runtime: pip install 'equicr[cpu]' (or [gpu])"
            ) from error
        self.session = CloudRemovalSession(local)
        self.reference = reference
        self.source = {**reference.record(), "backend": "onnx", "provider": self.session.active_provider,
                       "precision": self.session.metadata.get("precision", "float32"),
                       "precision_reason": "the file's own"}  # fmt: skip

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run_network(inputs)


class CloudyInputPredictor:
    """The baseline as a predictor: its "prediction" is the cloudy optical input, unchanged."""

    def __init__(self, reference: ModelReference) -> None:
        self.reference = reference
        self.source = {**reference.record(), "backend": CLOUDY_INPUT}

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return inputs[:, optical_channels(CLOUDY_INPUT_MODE)]


def describe(predictor: Predictor) -> str:
    """One line saying how a predictor runs: backend, device or provider, precision and why."""
    source = predictor.source
    where = source.get("provider") or source.get("device", "")
    precision = f", {source['precision']} ({source['precision_reason']})" if "precision" in source else ""
    return f"{source['backend']} {where}{precision}".strip()


def load_predictor(model: str | Path | ModelReference, device: str = "cpu", precision: str = "fp32") -> Predictor:
    """The backend a model calls for: ONNX Runtime for ``.onnx``, PyTorch for checkpoints, or the baseline.

    ``precision="bf16"`` runs a checkpoint's convolutions in bfloat16, ``"auto"`` does so only where
    ``device`` computes bfloat16 natively (:mod:`equicr.hardware`); an ONNX file keeps its own precision.
    """
    reference = resolve_model(model, precision, device)
    if reference.backend == CLOUDY_INPUT:
        return CloudyInputPredictor(reference)
    local = local_path(reference.location, reference.sha256)  # the content the reference recorded, or an error
    if reference.backend == "onnx":
        return OnnxPredictor(reference, local)
    return TorchPredictor(reference, local, device, precision)
