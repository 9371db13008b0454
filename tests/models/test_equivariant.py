"""Rotation (and reflection) equivariance of EquiCR and of each of its blocks, in float32."""

import pytest
import torch
from escnn import nn as enn

from equicr.bands import INPUT_MODES
from equicr.equivariance import EQUIVARIANCE_TOLERANCE, QUARTER_TURNS, relative_equivariance_error
from equicr.models import ModelConfig, build_model
from equicr.models.equivariant import EquivariantResidualBlock, make_gspace

SIZES = [(16, 16), (17, 17), (15, 20)]  # even, odd, and non-square


def small(architecture: str = "equicr", **overrides) -> ModelConfig:
    return ModelConfig(
        architecture, width=overrides.pop("width", 3), num_blocks=overrides.pop("num_blocks", 2), **overrides
    )


@pytest.mark.parametrize("input_mode", INPUT_MODES)
@pytest.mark.parametrize("size", SIZES)
def test_equicr_is_rotation_equivariant(input_mode, size):
    config = small(input_mode=input_mode)
    model = build_model(config, identity_start=False).eval()
    x = torch.rand(2, config.in_channels, *size) * 2
    for k in QUARTER_TURNS:
        assert relative_equivariance_error(model, x, k) < EQUIVARIANCE_TOLERANCE


def test_equicr_p4m_is_also_reflection_equivariant():
    config = small(group="p4m", width=2)
    model = build_model(config, identity_start=False).eval()
    x = torch.rand(1, config.in_channels, 13, 14)
    for k in (0, *QUARTER_TURNS):
        assert relative_equivariance_error(model, x, k, flip=True) < EQUIVARIANCE_TOLERANCE


def test_p4_model_is_not_reflection_equivariant():
    model = build_model(small(), identity_start=False).eval()
    x = torch.rand(1, 15, 16, 16)
    assert relative_equivariance_error(model, x, 0, flip=True) > 1e-3


@pytest.mark.parametrize("size", SIZES)
def test_each_block_is_equivariant(size):
    """Head, every residual block and the tail on their own, with escnn's own field transforms."""
    model = build_model(small(num_blocks=3), identity_start=False).eval()
    gspace = make_gspace("p4")
    blocks = [model.head, *model.blocks, model.tail]
    assert sum(isinstance(block, EquivariantResidualBlock) for block in blocks) == 3
    for block in blocks:
        x = enn.GeometricTensor(torch.randn(2, block.in_type.size, *size), block.in_type)
        for element in gspace.testing_elements:
            with torch.no_grad():
                transformed_output = block(x.transform(element)).tensor
                expected = block(x).transform(element).tensor
            error = float((transformed_output - expected).norm() / expected.norm())
            assert error < EQUIVARIANCE_TOLERANCE, f"{type(block).__name__} under {element}: {error:.2e}"


def test_the_check_fails_on_dsen2cr():
    config = small("dsen2cr", width=8)
    model = build_model(config, identity_start=False).eval()
    x = torch.rand(2, config.in_channels, 17, 17)
    errors = [relative_equivariance_error(model, x, k) for k in QUARTER_TURNS]
    assert min(errors) > 1e-2, errors  # a plain CNN is far from equivariant
