"""The one configuration that describes every cloud-removal network this package builds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from equicr.bands import INPUT_MODES, S2_BANDS, InputMode, has_optical_input, input_bands
from equicr.errors import UserError

Architecture = Literal["equicr", "dsen2cr"]
ARCHITECTURES: tuple[Architecture, ...] = ("equicr", "dsen2cr")
#: How tables and plots name them.
ARCHITECTURE_NAMES: dict[str, str] = {"equicr": "EquiCR", "dsen2cr": "DSen2-CR"}
#: The name that stands for no network at all: the "leave the clouds in" baseline, which returns
#: its cloudy optical input (see :mod:`equicr.deploy.predictors`).
CLOUDY_INPUT = "cloudy-input"
Precision = Literal["fp32", "bf16"]
#: Number formats a network computes in: float32, or bfloat16 autocast (training) / trunk (inference).
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")
#: What ``--precision`` of inference accepts: a fixed precision, or ``auto``, bfloat16 only where the
#: device computes it natively (see :mod:`equicr.hardware`).
PRECISION_CHOICES: tuple[str, ...] = ("auto", *PRECISIONS)
#: Symmetry groups per architecture: rotations by 90 degrees (p4), with reflections (p4m), none.
GROUPS: dict[str, tuple[str, ...]] = {"equicr": ("p4", "p4m"), "dsen2cr": ("trivial",)}
#: The paper's feature width: 156 regular p4 fields (624 channels) for EquiCR, 256 channels for
#: DSen2-CR; the two have about the same number of trainable parameters (18.7M and 18.9M).
PAPER_WIDTH: dict[str, int] = {"equicr": 156, "dsen2cr": 256}
#: Every convolution in both networks is 3x3.
KERNEL_SIZE = 3
#: Plain channels of one regular field per EquiCR group: the group's order.
GROUP_ORDER: dict[str, int] = {"p4": 4, "p4m": 8, "trivial": 1}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and size of a cloud-removal network; the defaults are the paper's EquiCR."""

    architecture: Architecture = "equicr"  # "equicr" (escnn, equivariant) or "dsen2cr" (plain CNN)
    width: int | None = None  # feature width: regular fields (EquiCR) or channels; None = paper's
    num_blocks: int = 16  # residual blocks between the input and output convolutions
    input_mode: InputMode = "sar+opt"  # "sar+opt" (15 bands), "opt" (13) or "sar" (2)
    group: str | None = None  # symmetry group: "p4" or "p4m" for EquiCR; None = p4 / trivial
    residual_scale: float = 0.1  # each block's output is scaled by this before it is added

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise UserError(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.input_mode not in INPUT_MODES:
            raise UserError(f"input_mode {self.input_mode!r} is not one of {INPUT_MODES}")
        if self.width is None:
            object.__setattr__(self, "width", PAPER_WIDTH[self.architecture])
        if self.group is None:
            object.__setattr__(self, "group", GROUPS[self.architecture][0])
        if self.group not in GROUPS[self.architecture]:
            raise UserError(
                f"group {self.group!r} does not apply to {self.architecture}; choose one of {GROUPS[self.architecture]}"
            )
        if self.width < 1 or self.num_blocks < 0:
            raise UserError(f"width must be >= 1 and num_blocks >= 0, got {self.width}, {self.num_blocks}")

    @property
    def in_channels(self) -> int:
        """Number of input channels (bands) the network reads."""
        return len(input_bands(self.input_mode))

    @property
    def out_channels(self) -> int:
        """Number of output channels: the 13 Sentinel-2 bands."""
        return len(S2_BANDS)

    @property
    def long_skip(self) -> bool:
        """Whether the cloudy optical input is added to the output (not in SAR-only mode)."""
        return has_optical_input(self.input_mode)

    @property
    def feature_channels(self) -> int:
        """Plain channels of the features once expanded: width x group order (156 p4 fields = 624)."""
        return self.width * GROUP_ORDER[self.group]

    @property
    def multiply_adds_per_pixel(self) -> int:
        """Multiply-adds per output pixel of a forward pass: head, two convolutions per block, tail."""
        channels, taps = self.feature_channels, KERNEL_SIZE * KERNEL_SIZE
        return taps * (self.in_channels * channels + 2 * self.num_blocks * channels**2 + channels * self.out_channels)

    @property
    def receptive_field_radius(self) -> int:
        """Pixels each output pixel sees on each side: one per stacked 3x3 convolution."""
        return (2 * self.num_blocks + 2) * (KERNEL_SIZE // 2)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields, for checkpoints, JSON and ONNX metadata."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are refused by name."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown model config keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)

    def differences(self, other: ModelConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ, as ``{name: (self's value, other's value)}``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {key: (mine[key], theirs[key]) for key in mine if mine[key] != theirs[key]}
