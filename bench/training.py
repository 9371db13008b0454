"""Training step time of EquiCR (escnn, train mode) and where the time goes.

    python bench/training.py                    # full width (156 fields), 2 blocks, batch 2 of 64-px patches
    python bench/training.py --blocks 16 --patch 256 --batch 8    # the paper's step, on a GPU

In train mode escnn expands every filter from its basis coefficients on each forward pass, and the
backward pass runs through that expansion. Timed side by side, round-robin: the whole step (L1
loss, backward, Adam), the filter expansion alone (forward and backward), the same convolutions
as a plain ``Conv2d`` network (forward and backward), and the Adam step alone. The remainder is
activations, additions and the loss. Also prints the profiler's top operators of one step.
Prints tables, writes JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from benchlib import interleaved_medians, print_table, write_results
from escnn import nn as enn

from equicr.deploy.export import plain_torch_model
from equicr.models import ModelConfig, build_model, count_parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=156, help="regular fields (default: %(default)s)")
    parser.add_argument("--blocks", type=int, default=2, help="residual blocks (default: %(default)s)")
    parser.add_argument("--patch", type=int, default=64, help="patch side in pixels (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=2, help="patches per step (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/training.json)")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = ModelConfig(width=args.width, num_blocks=args.blocks)
    model = build_model(config, identity_start=False).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    plain = plain_torch_model(build_model(config, identity_start=False)).train()
    for parameter in plain.parameters():
        parameter.requires_grad_(True)
    convs = [m for m in model.modules() if isinstance(m, enn.R2Conv)]
    inputs = torch.rand(args.batch, config.in_channels, args.patch, args.patch) * 2
    target = torch.rand(args.batch, config.out_channels, args.patch, args.patch) * 2

    def step() -> None:
        loss = F.l1_loss(model(inputs), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def expansion() -> None:
        total = sum(conv.expand_parameters()[0].sum() for conv in convs)
        total.backward()
        model.zero_grad(set_to_none=True)

    def plain_convolutions() -> None:
        F.l1_loss(plain(inputs), target).backward()
        plain.zero_grad(set_to_none=True)

    step()  # Adam's state exists from here on
    gradients = {parameter: parameter.grad for parameter in model.parameters()}

    def adam() -> None:
        for parameter, gradient in gradients.items():  # the other variants clear the gradients
            parameter.grad = gradient
        optimizer.step()

    seconds = interleaved_medians(
        {"training step": step, "filter expansion (fwd+bwd)": expansion,
         "same convolutions as Conv2d (fwd+bwd)": plain_convolutions, "Adam step": adam},
        rounds=args.rounds,
    )  # fmt: skip
    accounted = sum(v for k, v in seconds.items() if k != "training step")
    rows = [{"part": k, "seconds": v, "of step": v / seconds["training step"]} for k, v in seconds.items()]
    rows.append({"part": "rest (activations, adds, loss)", "seconds": seconds["training step"] - accounted,
                 "of step": 1 - accounted / seconds["training step"]})  # fmt: skip
    print(f"EquiCR width {args.width} x {args.blocks} blocks ({count_parameters(model):,} parameters), "
          f"batch {args.batch} x {args.patch} px")  # fmt: skip
    print_table(rows, ["part", "seconds", "of step"])

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        step()
    events = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    total = sum(e.self_cpu_time_total for e in profile.key_averages())
    top = [{"operator": e.key, "calls": e.count, "self seconds": e.self_cpu_time_total / 1e6,
            "share": e.self_cpu_time_total / total} for e in events]  # fmt: skip
    print_table(top, ["operator", "calls", "self seconds", "share"])
    write_results("training", {"model": config.to_dict(), "batch": args.batch, "patch": args.patch,
                               "parts": rows, "top_operators": top}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
