"""Backends that turn network inputs into network outputs: the PyTorch model and the ONNX Runtime session.

Both load once and expose ``predict(inputs: (N, C, H, W) float32) -> (N, 13, H, W) float32``,
plus the model's config and an identity for the record each output keeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from equicr.checkpoint import load_model, resolve_checkpoint
from equicr.deploy.export import plain_torch_model
from equicr.deploy.inference import Precision, PreparedModel
from equicr.deploy.metadata import file_sha256
from equicr.deploy.runtime import CloudRemovalSession
from equicr.models import ModelConfig
from equicr.storage import local_path

BACKENDS = ("torch", "onnx")


class Predictor(Protocol):
    """What the declouding pipeline needs from a backend."""

    config: ModelConfig
    source: dict

    def predict(self, inputs: np.ndarray) -> np.ndarray: ...


class TorchPredictor:
    """A checkpoint run as plain PyTorch (EquiCR exported from escnn), channels-last, in float32 or bfloat16."""

    def __init__(self, checkpoint: str | Path, device: str = "cpu", precision: Precision = "fp32") -> None:
        path = resolve_checkpoint(checkpoint)
        model, loaded = load_model(path, device=device)
        self.model = PreparedModel(plain_torch_model(model), precision).to(device)
        self.device = device
        self.config = loaded.config
        self.source = {"backend": "torch", "file": str(path), "sha256": file_sha256(path), "device": device,
                       "precision": precision}  # fmt: skip

    @torch.inference_mode()
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(inputs).to(self.device)).float().cpu().numpy()


class OnnxPredictor:
    """An exported ONNX file run with ONNX Runtime on the best provider available."""

    def __init__(self, path: str | Path) -> None:
        local = local_path(path)  # a cached copy when the file is on object storage
        self.session = CloudRemovalSession(local)
        self.config = ModelConfig.from_dict(self.session.metadata["model_config"])
        self.source = {
            "backend": "onnx", "file": str(path), "sha256": file_sha256(local), "provider": self.session.active_provider
        }  # fmt: skip

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run_network(inputs)


def load_predictor(model: str | Path, device: str = "cpu", precision: Precision = "fp32") -> Predictor:
    """The backend a model file calls for: ``.onnx`` runs on ONNX Runtime, anything else is a checkpoint.

    ``precision="bf16"`` runs a checkpoint's convolutions in bfloat16 (an ONNX file keeps its own precision).
    """
    if str(model).endswith(".onnx"):
        if precision != "fp32":
            raise ValueError(f"{model}: an ONNX file runs in the precision it was exported in; drop --precision")
        return OnnxPredictor(model)
    return TorchPredictor(model, device, precision)
