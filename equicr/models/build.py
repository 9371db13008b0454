"""Build the network a :class:`ModelConfig` describes, count its parameters, match two architectures' sizes."""

from __future__ import annotations

import dataclasses

from torch import nn

from equicr.models.config import ModelConfig
from equicr.models.equivariant import EquiCR, EquivariantResidualBlock
from equicr.models.plain import ScaledResidualBlock, build_dsen2cr


def build_model(config: ModelConfig, initialize: bool = True, identity_start: bool = True) -> nn.Module:
    """The network ``config`` describes, in train mode.

    Args:
        config: architecture, width, depth, input mode and group.
        initialize: draw He-initialised weights; pass False when a checkpoint will overwrite them.
        identity_start: zero the output convolution, so the untrained network returns its cloudy input
            through the long skip and training starts from the "leave the clouds in" baseline. Pass
            False for a network whose every layer is random (equivariance and export checks).
    """
    if config.architecture == "equicr":
        return EquiCR(config, initialize=initialize, identity_start=identity_start)
    return build_dsen2cr(config, identity_start=identity_start)


def set_activation_checkpointing(model: nn.Module, enabled: bool = True) -> int:
    """Make every residual block of ``model`` recompute its activations in the backward pass; return how many.

    A training option: gradients are identical, stored activations shrink to one tensor per block,
    and each block's forward runs twice per step. Inference (no gradients) is unaffected.
    """
    blocks = [m for m in model.modules() if isinstance(m, ScaledResidualBlock | EquivariantResidualBlock)]
    for block in blocks:
        block.recompute_activations = enabled
    return len(blocks)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (for EquiCR: the steerable basis coefficients and biases)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def equal_parameter_config(config: ModelConfig, architecture: str) -> ModelConfig:
    """``config`` rebuilt as ``architecture`` at the width whose parameter count is closest to ``config``'s.

    The paper compares the two architectures at equal parameter counts (156 regular fields against
    256 channels); at small widths the ratio differs, so it is searched for.
    """
    target = count_parameters(build_model(config, initialize=False))
    other = ModelConfig(
        architecture, width=1, num_blocks=config.num_blocks, input_mode=config.input_mode,
        residual_scale=config.residual_scale,
    )  # fmt: skip
    best, best_gap, width = other, None, 1
    while True:
        candidate = dataclasses.replace(other, width=width)
        gap = count_parameters(build_model(candidate, initialize=False)) - target
        if best_gap is None or abs(gap) < abs(best_gap):
            best, best_gap = candidate, gap
        if gap >= 0:
            return best
        width += 1
