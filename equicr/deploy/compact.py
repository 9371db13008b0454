"""The compact form of EquiCR for ONNX: steerable-basis coefficients plus escnn's small basis, expanded in the graph.

The plain export (:meth:`equicr.models.EquiCR.export`) stores every 3x3 filter expanded: 624 x 624
x 9 floats per block convolution, 449 MB for the full model. Each filter is a fixed linear function
of the layer's trainable coefficients (escnn's basis expansion, an einsum with a sampled basis of a
few kilobytes), so the compact graph stores the coefficients and the basis and computes the filter
from them. All inputs of that computation are constants: ONNX Runtime folds it once when the
session loads, and then runs the same Conv nodes as the plain export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from escnn import nn as enn
from torch import nn

from equicr.models.equivariant import EquiCR
from equicr.models.plain import CloudRemovalNet


class BasisExpandedConv2d(nn.Module):
    """A convolution whose filter is escnn's basis expansion of stored coefficients, computed in ``forward``."""

    def __init__(self, conv: enn.R2Conv, plain: nn.Conv2d) -> None:
        super().__init__()
        self.expansion = conv.basisexpansion  # escnn's module: sampled basis buffers and an einsum
        self.register_buffer("coefficients", conv.weights.detach().clone())
        self.register_buffer("bias", plain.bias.detach().clone() if plain.bias is not None else None)
        self.kernel_size, self.padding = plain.kernel_size, plain.padding
        self.stride, self.dilation = plain.stride, plain.dilation

    def filter(self) -> torch.Tensor:
        """The expanded filter, (out channels, in channels, kh, kw), exactly as escnn expands it."""
        expanded = self.expansion(self.coefficients)
        return expanded.reshape(expanded.shape[0], expanded.shape[1], *self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.filter(), self.bias, self.stride, self.padding, self.dilation)


@torch.no_grad()
def compact_model(model: EquiCR) -> CloudRemovalNet:
    """The plain export of ``model`` with every convolution replaced by its :class:`BasisExpandedConv2d`."""
    plain = model.export()
    equivariant_convs = [m for m in model.modules() if isinstance(m, enn.R2Conv)]
    plain_names = [name for name, m in plain.named_modules() if isinstance(m, nn.Conv2d)]
    if len(equivariant_convs) != len(plain_names):
        raise RuntimeError(f"{len(equivariant_convs)} R2Conv layers but {len(plain_names)} exported Conv2d layers")
    for conv, name in zip(equivariant_convs, plain_names, strict=True):
        parent_name, _, child = name.rpartition(".")
        parent = plain.get_submodule(parent_name) if parent_name else plain
        compact = BasisExpandedConv2d(conv, getattr(parent, child))
        if compact.filter().shape != getattr(parent, child).weight.shape:
            raise RuntimeError(f"{name}: expanded filter {tuple(compact.filter().shape)} does not fit the export")
        setattr(parent, child, compact)
    return plain.eval()
