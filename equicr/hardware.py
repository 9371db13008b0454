"""What the machine a model runs on can do fast: the precision choice behind ``--precision auto``.

bfloat16 halves the bytes a network moves, but only hardware with native bfloat16 arithmetic turns
that into speed. Where the CPU lacks it, PyTorch emulates bfloat16 and a 624-channel 3x3 convolution
ran 9x slower than in float32 (measured on an AMD EPYC without AVX-512), so ``auto`` picks bfloat16 only where the
device runs it natively: a CUDA GPU that supports it, or a CPU with AVX-512 BF16 or AMX. The answer
comes from torch's own CPU feature detection (cpuinfo), never from CPU model names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from equicr.errors import UserError
from equicr.models import PRECISION_CHOICES, Precision


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a model runs in on one device, and why."""

    precision: Precision
    reason: str

    def text(self) -> str:
        """One line for a person."""
        return f"precision {self.precision} ({self.reason})"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX tiles), as torch detects it."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cpu_has_native_int8() -> bool:
    """Whether this CPU has 8-bit dot-product instructions (VNNI or AMX), which ONNX Runtime's integer kernels use.

    Without them ONNX Runtime falls back to AVX2's ``vpmaddubsw``, which was still 1.8x float32 here
    (docs/performance.md) but can saturate on 8-bit weights (ONNX Runtime's quantization docs), so
    ``--precision auto`` picks an INT8 file only where the dot products are exact.
    """
    return bool(torch.cpu._is_vnni_supported() or torch.cpu._is_amx_tile_supported())


def cuda_has_native_bf16() -> bool:
    """Whether the current CUDA device supports bfloat16 (Ampere and newer)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def choose_precision(requested: str, device: str | torch.device = "cpu") -> PrecisionChoice:
    """The precision to run in on ``device``: ``requested`` itself, or for ``auto`` bfloat16 where native.

    Raises:
        ValueError: ``requested`` is not one of :data:`PRECISION_CHOICES`.
    """
    if requested not in PRECISION_CHOICES:
        raise UserError(f"precision must be one of {PRECISION_CHOICES}, not {requested!r}")
    if requested != "auto":
        return PrecisionChoice(requested, "as requested")  # type: ignore[arg-type]
    kind = torch.device(device).type
    if kind == "cuda":
        if cuda_has_native_bf16():
            return PrecisionChoice("bf16", f"auto: {torch.cuda.get_device_name()} supports bfloat16")
        return PrecisionChoice("fp32", "auto: this CUDA device has no bfloat16")
    if cpu_has_native_bf16():
        return PrecisionChoice("bf16", "auto: the CPU has native bfloat16 (AVX-512 BF16 or AMX)")
    return PrecisionChoice("fp32", "auto: the CPU has no native bfloat16, which PyTorch would emulate slowly")
