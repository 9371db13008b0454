"""SSIM's Gaussian filter: float64 ``conv2d`` against the banded matrix products ``equicr.metrics`` uses.

    python bench/metrics.py [--images 4] [--rounds 5] [--out bench/results/metrics.json]

Both filter the same float64 images (13 bands, 256 px, the size of an evaluated patch) and give the
same sums; the table gives seconds per image, timed round-robin in one process, and the largest
difference between the two. Quote the ratio; absolute seconds drift on a shared machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from benchlib import interleaved_medians, print_table, write_results

from equicr.metrics import SSIM_SIGMA, SSIM_TRUNCATE, _filter_valid, _gaussian_window


def conv2d_filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """The filter as it was: separable unpadded float64 convolution of every band."""
    n, bands, height, width = x.shape
    flat = F.conv2d(x.reshape(n * bands, 1, height, width), window.view(1, 1, -1, 1))
    flat = F.conv2d(flat, window.view(1, 1, 1, -1))
    return flat.reshape(n, bands, flat.shape[-2], flat.shape[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    x = torch.rand(args.images, 13, 256, 256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    window = _gaussian_window(SSIM_SIGMA, SSIM_TRUNCATE, x.dtype, x.device)
    difference = float((conv2d_filter(x, window) - _filter_valid(x, window)).abs().max())
    seconds = interleaved_medians(
        {"conv2d (before)": lambda: conv2d_filter(x, window), "banded matmul (now)": lambda: _filter_valid(x, window)},
        rounds=args.rounds,
    )
    baseline = seconds["conv2d (before)"]
    rows = [{"filter": name, "s per image": value / args.images, "speed-up": baseline / value}
            for name, value in seconds.items()]  # fmt: skip
    print_table(rows, ["filter", "s per image", "speed-up"])
    print(f"largest difference between the two: {difference:.1e}")
    write_results("metrics", {"images": args.images, "rounds": args.rounds, "max_difference": difference,
                              "rows": rows}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
