"""Inference throughput of every backend on one model and tile, against the machine's own ceilings.

    python bench/inference.py                         # full width (156 fields), 2 blocks, 128-px tile
    python bench/inference.py --blocks 16 --tile 256  # the full model (about a minute per call on 2 cores)

Full-size EquiCR is 16 blocks; its blocks all have the same shapes (624 -> 624 channels, 3x3), so
a model of full width and reduced depth has exactly the full model's layer shapes and the same
throughput per layer. Variants, timed round-robin in one process:

- ceilings: a large matrix product, and a plain ``Conv2d`` stack with exactly the expanded layer
  shapes of the model (float32 in both layouts, bfloat16 channels-last);
- backends: escnn in eval mode, the exported plain-torch model (default layout), the prepared
  float32 channels-last model (what declouding a checkpoint runs), ONNX Runtime on the compact
  file and on the reduced-precision files (static INT8 QDQ, float16; made as ``export/to_onnx.py
  --reduced`` makes them, with their PSNR and SAM loss against float32 on the shipped real
  patches), and the prepared bfloat16 model. The share of the fastest path that the fastest ONNX
  file reaches is printed and recorded.

Also measured: each path's error against escnn and its rotation-equivariance error, and with
``--checkpoint`` (a trained EquiCR) the PSNR change of bfloat16 against float32 on a patches
collection (default: the real patches the experiment runner ingests). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from benchlib import REPO_ROOT, interleaved_medians, print_table, write_results
from torch import nn

from equicr.deploy.export import export_onnx, plain_torch_model
from equicr.deploy.inference import PreparedModel
from equicr.deploy.metadata import REDUCED_PRECISIONS
from equicr.deploy.reduced import make_reduced
from equicr.deploy.runtime import CloudRemovalSession
from equicr.deploy.verify import quality_checks, real_patch_inputs
from equicr.equivariance import transform_grid
from equicr.hardware import cpu_has_native_bf16
from equicr.models import ModelConfig, build_model, count_parameters

EXPERIMENT = REPO_ROOT / "outputs" / "experiments" / "cpu"
MATMUL_SIZE = 2048


def conv_stack(plain: nn.Module) -> list[nn.Conv2d]:
    """Fresh ``Conv2d`` layers with exactly the shapes of the plain model's convolutions, in order."""
    return [nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding)
            for m in plain.modules() if isinstance(m, nn.Conv2d)]  # fmt: skip


def flops_per_pixel(layers: list[nn.Conv2d]) -> int:
    """Floating-point operations (2 per multiply-add) per output pixel of the stack."""
    return sum(2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] for m in layers)


def relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float((output - reference).abs().max() / reference.abs().max())


def bf16_psnr_change(checkpoint: str, collection: str) -> dict:
    """Mean PSNR (and worst per-image change) of a trained model in bfloat16 against float32 on a collection."""
    from equicr.evaluation.scoring import evaluate_split
    from equicr.executors import ActorPool

    in_process = ActorPool(use_ray=False)
    fp32 = evaluate_split(checkpoint, collection, "test", in_process, progress=False)
    bf16 = evaluate_split(checkpoint, collection, "test", in_process, progress=False, precision="bf16")
    changes = [b["psnr"] - f["psnr"] for f, b in zip(fp32, bf16, strict=True)]
    return {
        "checkpoint": checkpoint, "collection": collection, "images": len(changes),
        "mean_psnr_fp32": sum(r["psnr"] for r in fp32) / len(fp32),
        "mean_psnr_bf16": sum(r["psnr"] for r in bf16) / len(bf16),
        "largest_psnr_change_db": max(changes, key=abs),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=156, help="regular fields (default: the paper's 156)")
    parser.add_argument("--blocks", type=int, default=2, help="residual blocks (default: %(default)s; paper 16)")
    parser.add_argument("--tile", type=int, default=128, help="tile side in pixels (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant (default: %(default)s)")
    parser.add_argument(
        "--checkpoint",
        default=str(EXPERIMENT / "runs" / "cpu-equicr-sar+opt-all"),
        help="trained EquiCR for the bfloat16 PSNR change (default: the cpu experiment's)",
    )
    parser.add_argument(
        "--collection",
        default=str(EXPERIMENT / "data" / "real.zarr"),
        help="patches collection for the PSNR change (default: the real patches)",
    )
    parser.add_argument(
        "--bf16", choices=("auto", "always", "never"), default="auto",
        help="bfloat16 variants: auto (default) runs them only on a CPU with native bfloat16; emulated bfloat16 "
        "is about 9x slower than float32 and would keep this benchmark busy for a long time",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/inference.json)")
    args = parser.parse_args()
    with_bf16 = args.bf16 == "always" or (args.bf16 == "auto" and cpu_has_native_bf16())
    if not with_bf16:
        print("bfloat16 variants skipped (--bf16 never, or no native bfloat16 on this CPU; --bf16 always runs them)")

    torch.manual_seed(0)
    config = ModelConfig(width=args.width, num_blocks=args.blocks)
    escnn_model = build_model(config, identity_start=False).eval()
    plain = plain_torch_model(escnn_model)
    layers = conv_stack(plain)
    flops_per_tile = flops_per_pixel(layers) * args.tile**2
    x = torch.rand(1, config.in_channels, args.tile, args.tile) * 2
    channels_last = x.to(memory_format=torch.channels_last)

    stacks = {  # each a fresh stack of the same shapes; (module, input in its layout and precision)
        "fp32": (nn.Sequential(*conv_stack(plain)).eval(), x),
        "fp32 channels-last": (nn.Sequential(*conv_stack(plain)).eval().to(memory_format=torch.channels_last),
                               channels_last),
        "bf16 channels-last": (nn.Sequential(*conv_stack(plain)).eval().to(torch.bfloat16)
                               .to(memory_format=torch.channels_last), channels_last.bfloat16()),
    }  # fmt: skip
    prepared = {"fp32": PreparedModel(plain, "fp32"), "bf16": PreparedModel(plain, "bf16")}
    with tempfile.TemporaryDirectory() as folder:
        onnx_file = export_onnx(escnn_model, config, Path(folder) / "compact.onnx")
        onnx_bytes = onnx_file.stat().st_size
        session = CloudRemovalSession(onnx_file, providers=["CPUExecutionProvider"])
        reduced, quality = {}, {}
        for precision in REDUCED_PRECISIONS:  # as export/to_onnx.py --reduced makes and verifies them
            calibration = real_patch_inputs(session) if precision == "int8" else None
            path = make_reduced(onnx_file, precision, Path(folder) / f"{precision}.onnx", calibration)
            reduced[precision] = CloudRemovalSession(path, providers=["CPUExecutionProvider"])
            quality[precision] = {check.name: check.measured for check in quality_checks(reduced[precision], session,
                                                                                          None)}  # fmt: skip
    matrices = {dtype: (torch.rand(MATMUL_SIZE, MATMUL_SIZE, dtype=dtype), torch.rand(MATMUL_SIZE, MATMUL_SIZE,
                dtype=dtype)) for dtype in (torch.float32, torch.bfloat16)}  # fmt: skip

    paths = {
        "escnn eval": lambda: escnn_model(x),
        "exported torch": lambda: plain(x),
        "exported torch, channels-last (decloud from a checkpoint)": lambda: prepared["fp32"](x),
        "ONNX Runtime, compact file (deployment)": lambda: session.run_network(x.numpy()),
        **{f"ONNX Runtime, {p} file": (lambda s=reduced[p]: s.run_network(x.numpy())) for p in REDUCED_PRECISIONS},
        "bfloat16, channels-last": lambda: prepared["bf16"](x),
    }
    ceilings = {f"Conv2d stack {name}": (lambda s=stack, i=inputs: s(i)) for name, (stack, inputs) in stacks.items()}
    matmuls = {
        f"matmul {MATMUL_SIZE} {str(d).split('.')[1]}": (lambda a=a, b=b: a @ b) for d, (a, b) in matrices.items()
    }
    if not with_bf16:
        ceilings, paths, matmuls = ({k: v for k, v in d.items() if "bf16" not in k and "bfloat16" not in k}
                                    for d in (ceilings, paths, matmuls))  # fmt: skip
    print(f"EquiCR width {args.width} x {args.blocks} blocks ({count_parameters(escnn_model):,} parameters), "
          f"tile {args.tile} px, {flops_per_tile / 1e9:.1f} GFLOP per tile; {args.rounds} rounds")  # fmt: skip
    with torch.inference_mode():
        seconds = interleaved_medians({**matmuls, **ceilings, **paths}, rounds=args.rounds)
        reference = escnn_model(x)
        rotated_input = transform_grid(x, 1, False)
        outputs = {name: torch.as_tensor(call()) for name, call in paths.items()}
        rotated_by_path = {
            "escnn eval": escnn_model(rotated_input), "exported torch": plain(rotated_input),
            "exported torch, channels-last (decloud from a checkpoint)": prepared["fp32"](rotated_input),
            "ONNX Runtime, compact file (deployment)": torch.as_tensor(session.run_network(rotated_input.numpy())),
            **{f"ONNX Runtime, {p} file": torch.as_tensor(reduced[p].run_network(rotated_input.numpy()))
               for p in REDUCED_PRECISIONS},
        }  # fmt: skip
        if with_bf16:
            rotated_by_path["bfloat16, channels-last"] = prepared["bf16"](rotated_input)

    rows = []
    for name, value in seconds.items():
        flops = 2 * MATMUL_SIZE**3 if name.startswith("matmul") else flops_per_tile
        row = {"variant": name, "seconds": value, "GFLOP/s": flops / value / 1e9}
        if name in paths:
            row |= {
                "tiles/s": 1 / value,
                "x escnn": seconds["escnn eval"] / value,
                "of Conv2d stack": seconds["Conv2d stack bf16 channels-last" if "bfloat16" in name
                                           else "Conv2d stack fp32 channels-last"] / value,
                "error vs escnn": relative_error(outputs[name], reference),
                "rotation error": relative_error(transform_grid(outputs[name], 1, False), rotated_by_path[name]),
            }  # fmt: skip
        rows.append(row)
    print_table(rows, ["variant", "seconds", "tiles/s", "GFLOP/s", "x escnn", "of Conv2d stack", "error vs escnn",
                       "rotation error"])  # fmt: skip
    bf16_speedup = bf16_over_onnx = psnr = None
    if with_bf16:
        bf16 = seconds["bfloat16, channels-last"]
        bf16_speedup = seconds["exported torch, channels-last (decloud from a checkpoint)"] / bf16
        bf16_over_onnx = seconds["ONNX Runtime, compact file (deployment)"] / bf16
        print(f"bfloat16 path against float32: {bf16_speedup:.2f}x channels-last torch, {bf16_over_onnx:.2f}x ONNX "
              "Runtime")  # fmt: skip
    print(f"ONNX file {onnx_bytes / 1e6:.1f} MB for {4 * count_parameters(escnn_model) / 1e6:.1f} MB of parameters")
    backends = {name: value for name, value in seconds.items() if name in paths}
    fastest = min(backends, key=backends.get)
    deployment = min((n for n in backends if n.startswith("ONNX Runtime")), key=backends.get)
    onnx_share = backends[fastest] / backends[deployment]
    print(f"fastest path: {fastest}; fastest ONNX file: {deployment}, at {onnx_share:.0%} of its speed")
    for precision, changes in quality.items():
        print(f"{precision} file against float32 on the shipped real patches: "
              + ", ".join(f"{name} {value:+.3f}" for name, value in changes.items()))  # fmt: skip
    if not with_bf16:
        print("no bfloat16 PSNR change measured: bfloat16 variants skipped")
    elif Path(args.collection).exists() and (Path(args.checkpoint).exists() or "://" in args.checkpoint):
        psnr = bf16_psnr_change(args.checkpoint, args.collection)
        print(f"bfloat16 against float32 on {psnr['images']} images of {args.collection}: mean PSNR "
              f"{psnr['mean_psnr_fp32']:.3f} -> {psnr['mean_psnr_bf16']:.3f} dB, "
              f"largest change {psnr['largest_psnr_change_db']:+.3f} dB")  # fmt: skip
    else:
        print(f"no PSNR change measured: {args.checkpoint} or {args.collection} is missing (run jobs/experiments.py)")
    write_results("inference", {
        "model": config.to_dict(), "parameters": count_parameters(escnn_model), "tile": args.tile,
        "flops_per_tile": flops_per_tile, "rows": rows, "bf16_speedup": bf16_speedup, "bf16_over_onnx": bf16_over_onnx,
        "onnx_bytes": onnx_bytes, "bf16_psnr_change": psnr, "fastest": fastest, "fastest_onnx": deployment,
        "onnx_share_of_fastest": onnx_share, "reduced_quality_loss": quality,
    }, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
