"""Plain-PyTorch cloud-removal network: DSen2-CR itself, and the form EquiCR exports to.

Both architectures share one graph: a head convolution with ReLU, residual blocks whose output is
scaled before it is added, a tail convolution to 13 bands, and a long skip that adds the cloudy
optical input (the first 13 input channels) to the output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from equicr.models.config import KERNEL_SIZE, ModelConfig


def block_update(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, recompute: bool) -> torch.Tensor:
    """``function(x)``, by default storing its activations for the backward pass.

    With ``recompute`` (activation checkpointing) and gradients on, the activations are not stored
    but recomputed in the backward pass: less memory for about a third more compute.
    """
    if recompute and torch.is_grad_enabled():
        return checkpoint(function, x, use_reentrant=False)
    return function(x)


class ScaledResidualBlock(nn.Module):
    """``x + scale * body(x)``, the residual block of DSen2-CR."""

    #: Recompute the body's activations in the backward pass (see :func:`set_activation_checkpointing`).
    recompute_activations = False

    def __init__(self, body: nn.Module, scale: float) -> None:
        super().__init__()
        self.body = body
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * block_update(self.body, x, self.recompute_activations)


class CloudRemovalNet(nn.Module):
    """Head, residual blocks and tail, plus the long skip of the optical input when ``skip_channels``."""

    def __init__(self, head: nn.Module, blocks: nn.Module, tail: nn.Module, skip_channels: int) -> None:
        super().__init__()
        self.head = head
        self.blocks = blocks
        self.tail = tail
        self.skip_channels = skip_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tail(self.blocks(self.head(x)))
        if self.skip_channels:
            y = y + x[:, : self.skip_channels]
        return y


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 convolution with 'same' zero padding, He-initialised for a following ReLU."""
    conv = nn.Conv2d(in_channels, out_channels, KERNEL_SIZE, padding=KERNEL_SIZE // 2)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


def build_dsen2cr(config: ModelConfig, identity_start: bool = True) -> CloudRemovalNet:
    """DSen2-CR (Meraner et al. 2020) at ``config.width`` channels; see :func:`equicr.models.build_model`."""
    width = config.width
    blocks = [
        ScaledResidualBlock(
            nn.Sequential(conv3x3(width, width), nn.ReLU(inplace=True), conv3x3(width, width)),
            config.residual_scale,
        )
        for _ in range(config.num_blocks)
    ]
    tail = conv3x3(width, config.out_channels)
    if identity_start:
        nn.init.zeros_(tail.weight)
    return CloudRemovalNet(
        head=nn.Sequential(conv3x3(config.in_channels, width), nn.ReLU(inplace=True)),
        blocks=nn.Sequential(*blocks),
        tail=tail,
        skip_channels=config.out_channels if config.long_skip else 0,
    )
