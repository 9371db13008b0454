"""Numerical checks that a network commutes with the symmetries of the image grid.

Works on any callable from a (N, C, H, W) tensor to a (N, C', H, W) tensor: an escnn model, its
plain-PyTorch export, or a wrapped ONNX Runtime session.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Relative error below which a float32 network counts as equivariant (measured: about 5e-7).
EQUIVARIANCE_TOLERANCE = 1e-5
#: The non-trivial rotations of p4, as numbers of quarter turns.
QUARTER_TURNS = (1, 2, 3)


def transform_grid(x: torch.Tensor, quarter_turns: int, flip: bool = False) -> torch.Tensor:
    """Rotate the last two axes by ``quarter_turns`` x 90 degrees, after a left-right flip if ``flip``."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, quarter_turns, dims=(-2, -1))


def relative_equivariance_error(
    network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, quarter_turns: int, flip: bool = False
) -> float:
    """``|f(g x) - g f(x)| / |f(x)|`` (Frobenius norms) for the grid transform g."""
    with torch.no_grad():
        transformed_output = network(transform_grid(x, quarter_turns, flip))
        expected = transform_grid(network(x), quarter_turns, flip)
    return float((transformed_output - expected).norm() / expected.norm().clamp_min(1e-12))


def max_rotation_error(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """The largest relative error over the rotations by 90, 180 and 270 degrees."""
    return max(relative_equivariance_error(network, x, k) for k in QUARTER_TURNS)
