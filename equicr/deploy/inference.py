"""The plain PyTorch network prepared for fast inference: channels-last memory and, optionally, bfloat16.

On CPUs oneDNN runs 3x3 convolutions fastest on channels-last (NHWC) tensors, and bfloat16 halves
the bytes moved and uses the CPU's bfloat16 dot-product instructions where it has them (AVX512-BF16,
AMX). Only the convolution trunk runs in bfloat16: the long skip adds the cloudy input in float32,
so a cloud-free pixel keeps its value to float32 precision (bfloat16 keeps 8 bits of mantissa, which
is 8-40 DN of reflectance), and the output is float32 in the default memory layout.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from equicr.errors import UserError
from equicr.models.config import PRECISIONS, Precision
from equicr.models.plain import CloudRemovalNet

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
#: Largest error of an output against the float32 reference, relative to the reference's largest
#: magnitude: channels-last float32 differs only by summation order; bfloat16 rounds every
#: activation to 8 mantissa bits (measured about 5e-3 on random EquiCR networks, tests allow 4x).
TOLERANCE: dict[Precision, float] = {"fp32": 1e-5, "bf16": 2e-2}


class PreparedModel(nn.Module):
    """A :class:`CloudRemovalNet` (plain DSen2-CR or exported EquiCR) set up for inference; float32 in and out."""

    def __init__(self, plain: CloudRemovalNet, precision: Precision = "fp32", channels_last: bool = True) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.dtype = DTYPES[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        trunk = copy.deepcopy(nn.Sequential(plain.head, plain.blocks, plain.tail))  # leave ``plain`` as it is
        self.trunk = trunk.to(self.dtype).to(memory_format=self.memory_format)
        self.skip_channels = plain.skip_channels
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.trunk(x.to(dtype=self.dtype, memory_format=self.memory_format)).float()
        if self.skip_channels:
            y = y + x[:, : self.skip_channels]
        return y.contiguous()
