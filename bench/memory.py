"""Training memory with and without activation checkpointing, measured on this CPU and scaled to full size.

    python bench/memory.py            # a grid of reduced sizes, a fit per architecture, the full-size estimate

Peak memory of one training step (forward, L1 loss, backward, Adam), after one untimed warm-up step,
is measured with PyTorch's own ``MemTracker`` (``torch.distributed._tools.mem_tracker``), which
follows every tensor and breaks the peak down into parameters, buffers, gradients, optimizer state,
activations and temporaries; it works on CPU tensors the way ``torch.cuda.max_memory_allocated``
does on a GPU. Activations and temporaries grow linearly in batch x pixels x channels x blocks, so
a least-squares fit over reduced sizes extrapolates to the paper's models (EquiCR 156 regular fields
= 624 channels, DSen2-CR 256 channels, 16 blocks) at 2 patches of 256 px per worker, the per-GPU
batch of the paper preset (batch 8 on 4 workers). The step time with and without checkpointing is
timed side by side (the recompute costs). The GPU figure adds the full-size parameters, gradients
and Adam state (computed) and an allowance for the CUDA context and cuDNN workspaces, and is
marked as an estimate: ``bench/gpu.py`` measures the real peak on a GPU.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from benchlib import interleaved_medians, print_table, write_results
from torch.distributed._tools.mem_tracker import MemTracker

from equicr.models import ModelConfig, build_model, count_parameters, set_activation_checkpointing

#: Reduced sizes per architecture: (width, blocks, patch px, batch); width in regular fields or channels.
GRIDS = {
    "equicr": [(4, 2, 48, 2), (8, 2, 48, 2), (4, 4, 48, 2), (4, 2, 96, 2), (8, 4, 64, 2), (4, 2, 48, 4)],
    "dsen2cr": [(16, 2, 48, 2), (32, 2, 48, 2), (16, 4, 48, 2), (16, 2, 96, 2), (32, 4, 64, 2), (16, 2, 48, 4)],
}
#: A larger size per architecture left out of the fit: its measurement checks the extrapolation.
HELD_OUT = {"equicr": (16, 4, 128, 2), "dsen2cr": (64, 4, 128, 2)}
#: Patches per worker and patch side of the paper preset (batch 8 over 4 workers).
FULL_BATCH, FULL_PX = 2, 256
#: CUDA context plus cuDNN workspaces on a GPU, an allowance on top of tensors (estimate).
GPU_OVERHEAD_GIB = 1.5
#: Memory of the GPU cluster.yaml's workers carry (A10G).
A10G_GIB = 24.0
#: Bytes per trainable parameter held in training: weight, gradient, Adam's two moments (float32).
TRAINING_BYTES_PER_PARAMETER = 16


def channels(architecture: str, width: int) -> int:
    """Plain feature channels of a width: a regular p4 field is 4 channels."""
    return 4 * width if architecture == "equicr" else width


def units(architecture: str, width: int, blocks: int, px: int, batch: int) -> float:
    """What activation memory is proportional to: samples x pixels x feature channels x (blocks + head)."""
    return batch * px * px * channels(architecture, width) * (blocks + 1)


def measure(architecture: str, width: int, blocks: int, px: int, batch: int, rounds: int) -> list[dict]:
    """Peak step memory (activations + temporaries) and step seconds, without and with checkpointing."""
    torch.manual_seed(0)
    config = ModelConfig(architecture, width=width, num_blocks=blocks)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.rand(batch, config.in_channels, px, px), torch.rand(batch, config.out_channels, px, px)

    def step() -> None:
        loss = torch.nn.functional.l1_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rows, steps = [], {}
    for recompute in (False, True):
        set_activation_checkpointing(model, recompute)
        step()  # warm-up: gradients, Adam state and escnn's caches exist before the measured step
        tracker = MemTracker()
        tracker.track_external(model, optimizer)
        with tracker:
            step()
        snapshot = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
        peak = {str(kind).split(".")[-1]: value for kind, value in snapshot.items()}
        rows.append({
            "model": architecture, "width": width, "blocks": blocks, "px": px, "batch": batch,
            "checkpointing": recompute, "activations MiB": peak["ACT"] / 2**20, "temporaries MiB": peak["TEMP"] / 2**20,
            "step bytes": peak["ACT"] + peak["TEMP"], "units": units(architecture, width, blocks, px, batch),
        })  # fmt: skip
        steps[recompute] = lambda recompute=recompute: (set_activation_checkpointing(model, recompute), step())
    seconds = interleaved_medians(steps, rounds=rounds)
    for row in rows:
        row["step s"] = seconds[row["checkpointing"]]
    return rows


def full_size_estimate(rows: list[dict], held_out: list[dict], architecture: str, recompute: bool) -> dict:
    """Fit step bytes against units over the grid; check on the held-out size; extrapolate to full size."""
    chosen = [r for r in rows if r["model"] == architecture and r["checkpointing"] == recompute]
    x = np.array([r["units"] for r in chosen], dtype=np.float64)
    y = np.array([r["step bytes"] for r in chosen], dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    check = next(r for r in held_out if r["model"] == architecture and r["checkpointing"] == recompute)
    held_out_error = (slope * check["units"] + intercept) / check["step bytes"] - 1
    config = ModelConfig(architecture)
    step = slope * units(architecture, config.width, config.num_blocks, FULL_PX, FULL_BATCH) + max(intercept, 0.0)
    parameters = count_parameters(build_model(config, initialize=False))
    state = parameters * TRAINING_BYTES_PER_PARAMETER
    return {
        "bytes_per_unit": slope, "fit_max_relative_residual": float(np.max(np.abs(slope * x + intercept - y) / y)),
        "held_out_prediction_error": float(held_out_error),
        "activations_and_temporaries_gib": step / 2**30, "weights_gradients_adam_gib": state / 2**30,
        "gpu_estimate_gib": (step + state) / 2**30 + GPU_OVERHEAD_GIB,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = [row for name, grid in GRIDS.items() for size in grid for row in measure(name, *size, args.rounds)]
    held_out = [row for name, size in HELD_OUT.items() for row in measure(name, *size, args.rounds)]
    print_table(rows + held_out, ["model", "width", "blocks", "px", "batch", "checkpointing", "activations MiB",
                                  "temporaries MiB", "step s"])  # fmt: skip
    estimates = {}
    for architecture in GRIDS:
        without, with_ = (full_size_estimate(rows, held_out, architecture, recompute) for recompute in (False, True))
        pairs = [r for r in rows if r["model"] == architecture]
        time_cost = float(np.median([b["step s"] / a["step s"] for a, b in zip(pairs[::2], pairs[1::2], strict=True)]))
        estimates[architecture] = {"without": without, "with": with_, "checkpointing_step_time_ratio": time_cost,
                                   "memory_ratio": without["bytes_per_unit"] / with_["bytes_per_unit"]}  # fmt: skip
        for name, value in (("without", without), ("with", with_)):
            print(f"{architecture} full size, {FULL_BATCH} x {FULL_PX} px per worker, {name} checkpointing: "
                  f"{value['activations_and_temporaries_gib']:.1f} GiB activations + temporaries, about "
                  f"{value['gpu_estimate_gib']:.1f} GiB on a GPU (estimate; an A10G has {A10G_GIB:.0f})")  # fmt: skip
        print(f"{architecture}: the fit predicts the held-out size {HELD_OUT[architecture]} within "
              f"{without['held_out_prediction_error']:+.0%} (without) and {with_['held_out_prediction_error']:+.0%} "
              "(with checkpointing)")  # fmt: skip
        print(f"{architecture}: checkpointing stores {estimates[architecture]['memory_ratio']:.1f}x less per unit, "
              f"a step takes {time_cost:.2f}x as long (median over the grid)")  # fmt: skip
    write_results("memory", {"grid": rows, "held_out": held_out, "full_size": {"batch": FULL_BATCH, "px": FULL_PX},
                             "estimates": estimates})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
