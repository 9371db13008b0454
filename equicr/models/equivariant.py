"""EquiCR: DSen2-CR's graph rebuilt from escnn's steerable convolutions, exactly p4 (or p4m) equivariant.

Inputs are trivial fields (one per band), features are regular fields, the output is 13 trivial
fields, so rotating both inputs by a multiple of 90 degrees rotates the predicted image exactly.
:meth:`EquiCR.export` turns the network into the plain :class:`~equicr.models.plain.CloudRemovalNet`
(ordinary ``Conv2d`` with expanded filters) for fast inference and ONNX.
"""

from __future__ import annotations

import torch
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from equicr.errors import UserError
from equicr.models.config import KERNEL_SIZE, ModelConfig
from equicr.models.plain import CloudRemovalNet, ScaledResidualBlock, block_update


def make_gspace(group: str) -> gspaces.GSpace2D:
    """The escnn space of a symmetry group name: p4 (rotations by 90 degrees) or p4m (with flips)."""
    if group == "p4":
        return gspaces.rot2dOnR2(N=4)
    if group == "p4m":
        return gspaces.flipRot2dOnR2(N=4)
    raise UserError(f"EquiCR supports the groups 'p4' and 'p4m', not {group!r}")


def r2conv3x3(in_type: enn.FieldType, out_type: enn.FieldType) -> enn.R2Conv:
    """Steerable 3x3 convolution with 'same' zero padding, left uninitialised.

    escnn's own initialisation recomputes the He variances for each layer (minutes for the full
    model); :func:`initialise_he` computes them once per kind of layer instead.
    """
    return enn.R2Conv(in_type, out_type, KERNEL_SIZE, padding=KERNEL_SIZE // 2, initialize=False)


class EquivariantResidualBlock(enn.EquivariantModule):
    """``x + scale * conv(relu(conv(x)))`` on one field type; exports to a plain residual block."""

    def __init__(self, field_type: enn.FieldType, scale: float) -> None:
        super().__init__()
        self.in_type = self.out_type = field_type
        self.conv1 = r2conv3x3(field_type, field_type)
        self.relu = enn.ReLU(field_type, inplace=True)
        self.conv2 = r2conv3x3(field_type, field_type)
        self.scale = scale

    #: Recompute the update's activations in the backward pass (see :func:`set_activation_checkpointing`).
    recompute_activations = False

    def forward(self, x: enn.GeometricTensor) -> enn.GeometricTensor:
        update = block_update(self.update, x.tensor, self.recompute_activations)
        return enn.GeometricTensor(x.tensor + self.scale * update, self.out_type)

    def update(self, tensor: torch.Tensor) -> torch.Tensor:
        """``conv(relu(conv(x)))`` on the plain tensor of a feature field, as activation checkpointing needs."""
        return self.conv2(self.relu(self.conv1(enn.GeometricTensor(tensor, self.in_type)))).tensor

    def evaluate_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def export(self) -> ScaledResidualBlock:
        body = nn.Sequential(self.conv1.export(), self.relu.export(), self.conv2.export())
        return ScaledResidualBlock(body, self.scale)


class EquiCR(nn.Module):
    """The equivariant cloud-removal network; takes and returns plain tensors in network units."""

    def __init__(self, config: ModelConfig, initialize: bool = True, identity_start: bool = True) -> None:
        super().__init__()
        if config.architecture != "equicr":
            raise UserError(f"EquiCR needs architecture 'equicr', got {config.architecture!r}")
        self.config = config
        gspace = make_gspace(config.group)
        self.in_type = enn.FieldType(gspace, config.in_channels * [gspace.trivial_repr])
        feature_type = enn.FieldType(gspace, config.width * [gspace.regular_repr])
        self.out_type = enn.FieldType(gspace, config.out_channels * [gspace.trivial_repr])
        self.head = enn.SequentialModule(r2conv3x3(self.in_type, feature_type), enn.ReLU(feature_type, inplace=True))
        blocks = [EquivariantResidualBlock(feature_type, config.residual_scale) for _ in range(config.num_blocks)]
        self.blocks = enn.SequentialModule(*blocks) if blocks else enn.IdentityModule(feature_type)
        self.tail = r2conv3x3(feature_type, self.out_type)
        if initialize:
            initialise_he(self)
        if initialize and identity_start:
            # Start from the "leave the clouds in" baseline: with the output convolution at zero the
            # untrained network returns its cloudy input through the long skip.
            with torch.no_grad():
                self.tail.weights.zero_()
                self.tail.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.head(enn.GeometricTensor(x, self.in_type)))
        y = self.tail(features).tensor
        if self.config.long_skip:
            y = y + x[:, : self.config.out_channels]
        return y

    @torch.no_grad()
    def export(self) -> CloudRemovalNet:
        """The same function as plain PyTorch modules (expanded ``Conv2d`` filters), in eval mode."""
        was_training = self.training
        self.eval()  # escnn exports only from eval mode, where the filters are expanded
        plain = CloudRemovalNet(
            head=self.head.export(),
            blocks=self.blocks.export(),
            tail=self.tail.export(),
            skip_channels=self.config.out_channels if self.config.long_skip else 0,
        )
        self.train(was_training)
        return plain.eval()


@torch.no_grad()
def initialise_he(model: nn.Module) -> None:
    """Initialise every ``R2Conv`` with escnn's generalised He scheme, computing variances once per layer kind.

    The variances depend only on a layer's input type, output type and kernel, so the 32 identical
    block convolutions of the full model share one computation; the result is the distribution
    ``escnn.nn.init.generalized_he_init`` draws from, in seconds instead of minutes.
    """
    variances: dict[tuple, torch.Tensor] = {}
    for module in model.modules():
        if isinstance(module, enn.R2Conv):
            kind = (repr(module.in_type), repr(module.out_type), module.kernel_size)
            if kind not in variances:
                enn.init.generalized_he_init(module.weights.data, module.basisexpansion, cache=True)
                variances[kind] = enn.init.cached_he_vars.pop(module.basisexpansion)
            module.weights.data.copy_(variances[kind] * torch.randn_like(module.weights))
            if module.bias is not None:
                module.bias.data.zero_()
