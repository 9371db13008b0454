"""GPU readiness of the full-size models: training steps, inference throughput, ONNX parity and equivariance.

    python bench/gpu.py                 # on a CUDA machine: every variant; elsewhere: says why it skips
    python bench/gpu.py --quick         # one timed round per variant

For the full-size EquiCR (156 regular p4 fields) and DSen2-CR (256 channels), 16 blocks each:

- a training step at batch 8 of 256-px patches (L1 loss, Adam) in float32, TF32 and bfloat16
  autocast, each with and without activation checkpointing: seconds, samples/s, peak memory;
- inference Mpx/s of the prepared PyTorch model (channels-last, float32 and bfloat16) and of ONNX
  Runtime on the CUDA and TensorRT providers, with the compact and the expanded file and the
  reduced-precision files (static INT8 QDQ and float16, made as ``export/to_onnx.py --reduced``
  makes them; the provider that actually ran is recorded: ONNX Runtime falls back to the CPU
  silently);
- ONNX parity against PyTorch in float32 and rotation equivariance on CUDA, with TF32 on and off,
  against the tolerances export verification uses (TF32 rounds products to 10 mantissa bits: it
  must not silently break them).

Writes ``bench/results/gpu.json`` with the device description; without CUDA it writes the reason
it skipped and exits 0, so the command is safe everywhere.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from benchlib import RESULTS_DIR, interleaved_medians, print_table, write_results

from equicr.models import ModelConfig

#: The paper's training step: batch 8 of 256-px patches.
TRAIN_BATCH, PATCH = 8, 256
#: Inference tile side for the throughput rows.
INFERENCE_TILE = 512
#: Training precisions: float32 with TF32 off, float32 with TF32 on, bfloat16 autocast.
TRAINING_PRECISIONS = ("fp32", "tf32", "bf16")
ARCHITECTURES = ("equicr", "dsen2cr")


@dataclass(frozen=True)
class TrainingVariant:
    """One training-step measurement."""

    architecture: str
    precision: str
    checkpointing: bool

    @property
    def name(self) -> str:
        return f"{self.architecture} {self.precision}{' ckpt' if self.checkpointing else ''}"


def training_variants(architectures: tuple[str, ...] = ARCHITECTURES) -> list[TrainingVariant]:
    """Every training-step variant, in the order they are run and reported."""
    return [
        TrainingVariant(architecture, precision, checkpointing)
        for architecture in architectures
        for precision in TRAINING_PRECISIONS
        for checkpointing in (False, True)
    ]


def skip_reason() -> str | None:
    """Why this machine cannot run the benchmark, or None."""
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    return None


def device_description() -> dict:
    """The GPU the numbers were measured on."""
    properties = torch.cuda.get_device_properties(0)
    return {
        "name": properties.name, "memory_gib": round(properties.total_memory / 2**30, 1),
        "compute_capability": f"{properties.major}.{properties.minor}", "cuda": torch.version.cuda,
        "bf16": torch.cuda.is_bf16_supported(),
    }  # fmt: skip


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def training_step_row(variant: TrainingVariant, rounds: int) -> dict:
    """Time one training step of the full-size model; record peak memory, or that it did not fit."""
    from equicr.models import build_model, set_activation_checkpointing
    from equicr.training.loop import autocast

    device = torch.device("cuda")
    config = ModelConfig(variant.architecture)
    set_tf32(variant.precision == "tf32")
    model = build_model(config).to(device)
    set_activation_checkpointing(model, variant.checkpointing)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    inputs = torch.rand(TRAIN_BATCH, config.in_channels, PATCH, PATCH, device=device) * 2
    target = torch.rand(TRAIN_BATCH, config.out_channels, PATCH, PATCH, device=device) * 2
    precision = "bf16" if variant.precision == "bf16" else "fp32"

    def step() -> None:
        with autocast(device, precision):
            prediction = model(inputs)
        loss = torch.nn.functional.l1_loss(prediction.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()

    torch.cuda.reset_peak_memory_stats()
    try:
        seconds = interleaved_medians({"step": step}, rounds=rounds)["step"]
    except torch.OutOfMemoryError:
        return {"variant": variant.name, "seconds": None, "samples/s": None, "peak GiB": None, "note": "out of memory"}
    finally:
        set_tf32(False)
    peak = torch.cuda.max_memory_allocated() / 2**30
    return {"variant": variant.name, "seconds": seconds, "samples/s": TRAIN_BATCH / seconds, "peak GiB": peak}


def inference_rows(architecture: str, rounds: int, folder: Path) -> list[dict]:
    """Mpx/s of each inference path, and each path's parity and equivariance error on CUDA."""
    from equicr.deploy.export import export_onnx, plain_torch_model
    from equicr.deploy.inference import PreparedModel
    from equicr.deploy.metadata import REDUCED_PRECISIONS
    from equicr.deploy.reduced import make_reduced
    from equicr.deploy.runtime import CloudRemovalSession
    from equicr.deploy.verify import PARITY_TOLERANCE, REDUCED_EQUIVARIANCE_TOLERANCE, real_patch_inputs
    from equicr.equivariance import EQUIVARIANCE_TOLERANCE, max_rotation_error
    from equicr.models import build_model

    config = ModelConfig(architecture)
    model = build_model(config, identity_start=False).eval()
    plain = plain_torch_model(model)
    x = torch.rand(1, config.in_channels, INFERENCE_TILE, INFERENCE_TILE) * 2
    with torch.inference_mode():
        reference = plain.cuda()(x.cuda()).float().cpu()
    paths = {}
    for precision in ("fp32", "bf16"):
        prepared = PreparedModel(plain_torch_model(model), precision).cuda()
        paths[f"torch {precision}"] = lambda t, m=prepared: m(t.cuda()).float().cpu()
    forms = ("basis", "expanded") if architecture == "equicr" else ("expanded",)
    files = {}
    for form in forms:
        files[form] = export_onnx(model, config, folder / f"{architecture}-{form}.onnx", filters=form)
    calibration = real_patch_inputs(CloudRemovalSession(files[forms[0]], providers=["CPUExecutionProvider"]))
    for precision in REDUCED_PRECISIONS:  # made from the float32 file as export/to_onnx.py --reduced makes them
        reduced = folder / f"{architecture}-{precision}.onnx"
        files[precision] = make_reduced(
            files[forms[0]], precision, reduced, calibration if precision == "int8" else None
        )
    for form, onnx_file in files.items():
        for provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            session = CloudRemovalSession(onnx_file, providers=[provider, "CPUExecutionProvider"])
            label = f"ort {form} {provider.removesuffix('ExecutionProvider')} ({session.active_provider})"
            paths[label] = lambda t, s=session: torch.from_numpy(s.run_network(t.numpy()))
    rows = []
    with torch.inference_mode():
        timings = interleaved_medians({name: (lambda f=f: f(x)) for name, f in paths.items()}, rounds=rounds)
        for name, run in paths.items():
            row = {"model": architecture, "path": name, "Mpx/s": INFERENCE_TILE**2 / timings[name] / 1e6}
            error = float((run(x) - reference).abs().max() / reference.abs().max())
            row["error vs torch fp32"] = error
            reduced = next((p for p in REDUCED_PRECISIONS if f"ort {p} " in name), None)
            full = "fp32" in name or ("ort" in name and reduced is None)
            row["parity ok"] = error < PARITY_TOLERANCE["float32"] if full else None
            for tf32 in (False, True):
                set_tf32(tf32)
                rotation = max_rotation_error(run, torch.rand(1, config.in_channels, 65, 65) * 2)
                row[f"rotation error{' tf32' if tf32 else ''}"] = rotation
                if architecture == "equicr" and "bf16" not in name:
                    bound = REDUCED_EQUIVARIANCE_TOLERANCE[reduced] if reduced else EQUIVARIANCE_TOLERANCE
                    row[f"equivariant{' tf32' if tf32 else ''}"] = rotation < bound
            set_tf32(False)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one timed round per variant")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gpu.json", help="JSON results")
    args = parser.parse_args(argv)
    reason = skip_reason()
    if reason is not None:
        print(f"bench/gpu.py skipped: {reason}; run it on a GPU node (e.g. a g5 worker of cluster.yaml)")
        write_results("gpu", {"skipped": reason}, args.out)
        return 0
    rounds = 1 if args.quick else 3
    training = []
    for variant in training_variants():
        training.append(training_step_row(variant, rounds))
        torch.cuda.empty_cache()  # the previous variant's model is gone: return its memory
    print_table(training, ["variant", "seconds", "samples/s", "peak GiB", "note"])
    with tempfile.TemporaryDirectory() as folder:
        inference = [row for a in ARCHITECTURES for row in inference_rows(a, rounds, Path(folder))]
    print_table(inference, list(inference[0]))
    write_results("gpu", {"device": device_description(), "training": training, "inference": inference,
                          "seed_note": "random weights; throughput does not depend on them"}, args.out)  # fmt: skip
    return 0 if all(r.get("parity ok") is not False for r in inference) else 1


if __name__ == "__main__":
    torch.manual_seed(0)
    raise SystemExit(main())
