"""Capacity plan: GPU-hours and cost of the paper preset and of declouding Europe once, per model and precision.

    python bench/capacity.py                       # prints the tables, writes bench/results/capacity.json
    python bench/capacity.py --markdown docs/capacity.md

Work is counted exactly from the models' multiply-adds per pixel (``ModelConfig.multiply_adds_per_pixel``,
checked against the exported convolutions by the tests) and the jobs' sizes (the paper preset's runs,
epochs and SEN12MS-CR split sizes; Europe's area). Throughput is measured where it could be:

- this CPU: ``bench/results/inference.json`` (ONNX Runtime float32 and the bfloat16 PyTorch path,
  full-width EquiCR, GFLOP/s), and s2cloudless's time per patch (DESIGN.md section 12);
- a GPU: ``bench/results/gpu.json`` when ``bench/gpu.py`` ran on one (training samples/s and
  inference Mpx/s); otherwise each GPU's published dense peak times an assumed efficiency, and
  every such row says "estimate".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import RESULTS_DIR, write_results

from equicr.experiments.presets import PRESETS, VARIANTS
from equicr.experiments.results import PAPER_SPLIT_SIZES
from equicr.models import ModelConfig

#: A training step costs about three forward passes (forward, gradient of inputs, gradient of weights).
TRAINING_PASSES = 3
PATCH_PIXELS = 256 * 256
#: One Sentinel-2 revisit of Europe: about 10 million km^2 at 10 m (1e4 pixels per km^2).
EUROPE_PIXELS = 10e6 * 1e4
#: Pixels computed per pixel written at the default 1024-px tiles with a 34-px halo (docs/performance.md).
HALO_OVERHEAD = 1.14
#: Bytes read per pixel (S1 2 x float32, S2 13 x uint16) and written (13 x uint16).
BYTES_READ_PER_PIXEL, BYTES_WRITTEN_PER_PIXEL = 2 * 4 + 13 * 2, 13 * 2
#: s2cloudless on one 256x256 patch at 10 m on this CPU, and at 60 m (DESIGN.md section 12, measured).
CLOUD_SECONDS_PER_PATCH = {"10 m": 1.04, "60 m": 0.074}
#: Published dense peaks in TFLOP/s (no sparsity) per precision, and an on-demand price per GPU-hour.
#: A10G: NVIDIA A10 datasheet figures (AWS's A10G variant is close); g5.xlarge us-east-1 list price.
#: H100: NVIDIA H100 SXM datasheet; p5.48xlarge us-east-1 list price / 8 GPUs. Prices change: edit here.
GPUS = {
    "A10G (g5.xlarge)": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "usd_per_hour": 1.006},
    "H100 SXM (p5)": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "usd_per_hour": 55.04 / 8},
}
#: CPU nodes with AMX (Intel Sapphire Rapids class), priced per node-hour: us-east-1 on-demand list
#: price of AWS's c7i (aws.amazon.com/ec2/pricing/on-demand, December 2026; edit here for yours).
AMX_NODES = {"c7i.8xlarge (AMX, 32 vCPU)": {"vcpus": 32, "usd_per_hour": 1.428}}
#: Full-width EquiCR GFLOP/s per vCPU on such a CPU: the one AMX measurement this project has, on 2
#: vCPUs of a loaded Xeon with AMX (DESIGN.md section 13, bench/inference.py): PyTorch bfloat16
#: channels-last 600 GFLOP/s, 4.8x ONNX Runtime float32. Scaled linearly to a node: an estimate.
AMX_GFLOPS_PER_VCPU = {"fp32": 600 / 4.8 / 2, "bf16": 600 / 2}
#: Fraction of the dense peak that cuDNN's 3x3 convolutions are assumed to reach at these channel
#: counts (an assumption until bench/gpu.py measures it; this CPU reaches 90-100% of its Conv2d ceiling).
ASSUMED_EFFICIENCY = 0.5
ARCHITECTURES = {"equicr": "EquiCR", "dsen2cr": "DSen2-CR"}


def flop_per_pixel(architecture: str) -> float:
    """Forward FLOP (2 per multiply-add) per output pixel of the full-size model."""
    return 2.0 * ModelConfig(architecture).multiply_adds_per_pixel


def paper_preset_work(architecture: str) -> dict:
    """Forward-pass pixels of the paper preset's runs of one architecture: training, validation, test."""
    preset = PRESETS["paper"]
    runs = [run for run in preset.runs() if VARIANTS[run.variant].architecture == architecture]
    epochs = preset.training.epochs
    # Every run trains the same number of steps (smaller subsets are repeated up to the full size).
    train_samples = len(runs) * epochs * PAPER_SPLIT_SIZES["train"]
    val_samples = len(runs) * epochs * PAPER_SPLIT_SIZES["val"]
    test_samples = len(runs) * (PAPER_SPLIT_SIZES["test"] + 12)  # the test split and the 12 real patches
    forward_pixels = (TRAINING_PASSES * train_samples + val_samples + test_samples) * PATCH_PIXELS
    return {"runs": len(runs), "epochs": epochs, "train_samples": train_samples, "forward_pixels": forward_pixels}


def measured_cpu_gflops() -> dict[str, float]:
    """GFLOP/s of the full-width EquiCR on this CPU: ONNX Runtime float32 and PyTorch bfloat16 (measured)."""
    rows = json.loads((RESULTS_DIR / "inference.json").read_text())["rows"]
    by_name = {row["variant"]: row["GFLOP/s"] for row in rows}
    return {"fp32": by_name["ONNX Runtime, compact file (deployment)"], "bf16": by_name.get("bfloat16, channels-last")}


def measured_gpu() -> dict | None:
    """bench/gpu.py's results when it ran on a GPU, else None."""
    path = RESULTS_DIR / "gpu.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    return None if "skipped" in document else document


def gpu_rows(flop: float, kind: str) -> list[dict]:
    """GPU-hours and cost of ``flop`` floating-point operations per GPU and precision (estimates)."""
    rows = []
    for gpu, spec in GPUS.items():
        for precision in ("fp32", "tf32", "bf16"):
            seconds = flop / (spec[precision] * 1e12 * ASSUMED_EFFICIENCY)
            hours = seconds / 3600
            source = f"estimate: {ASSUMED_EFFICIENCY:.0%} of peak"
            rows.append({"work": kind, "device": gpu, "precision": precision, "GPU-hours": hours,
                         "USD": hours * spec["usd_per_hour"], "source": source})  # fmt: skip
    return rows


def amx_rows(flop: float, kind: str) -> list[dict]:
    """Node-hours and cost of ``flop`` on AMX CPU nodes, float32 (ONNX Runtime) and bfloat16 (estimates)."""
    rows = []
    for node, spec in AMX_NODES.items():
        for precision, gflops in AMX_GFLOPS_PER_VCPU.items():
            hours = flop / (gflops * 1e9 * spec["vcpus"]) / 3600
            rows.append({"work": kind, "device": node, "precision": precision, "GPU-hours": None,
                         "machine-hours": hours, "USD": hours * spec["usd_per_hour"],
                         "source": "estimate: 2-vCPU AMX measurement scaled to the node"})  # fmt: skip
    return rows


def plan() -> dict:
    """Every number of the capacity plan."""
    cpu = measured_cpu_gflops()
    training, europe = [], []
    for architecture, name in ARCHITECTURES.items():
        work = paper_preset_work(architecture)
        flop = work["forward_pixels"] * flop_per_pixel(architecture)
        for row in gpu_rows(flop, f"paper preset, {name}") + amx_rows(flop, f"paper preset, {name}"):
            training.append({**row, "EFLOP": flop / 1e18})
        pixels = EUROPE_PIXELS * HALO_OVERHEAD
        flop = pixels * flop_per_pixel(architecture)
        for row in gpu_rows(flop, f"Europe, {name}") + amx_rows(flop, f"Europe, {name}"):
            europe.append({**row, "EFLOP": flop / 1e18})
        for precision, gflops in cpu.items():
            if gflops:
                hours = flop / (gflops * 1e9) / 3600
                europe.append({"work": f"Europe, {name}", "device": "this CPU (2 cores)", "precision": precision,
                               "GPU-hours": None, "machine-hours": hours, "EFLOP": flop / 1e18,
                               "source": "measured (bench/results/inference.json)"})  # fmt: skip
    patches = EUROPE_PIXELS / PATCH_PIXELS
    stages = {
        f"cloud detection at {resolution} (hours of a 2-core CPU)": patches * seconds / 3600
        for resolution, seconds in CLOUD_SECONDS_PER_PATCH.items()
    }
    stages["bytes read (TB)"] = EUROPE_PIXELS * HALO_OVERHEAD * BYTES_READ_PER_PIXEL / 1e12
    stages["bytes written (TB)"] = EUROPE_PIXELS * BYTES_WRITTEN_PER_PIXEL / 1e12
    return {
        "flop_per_pixel": {name: flop_per_pixel(a) for a, name in ARCHITECTURES.items()},
        "paper_preset": {name: paper_preset_work(a) for a, name in ARCHITECTURES.items()},
        "cpu_gflops": cpu, "gpu_measured": measured_gpu() is not None, "training": training, "europe": europe,
        "europe_other_stages": stages, "assumed_efficiency": ASSUMED_EFFICIENCY, "gpus": GPUS,
        "amx_nodes": AMX_NODES, "amx_gflops_per_vcpu": AMX_GFLOPS_PER_VCPU,
    }  # fmt: skip


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows])


def limits(result: dict) -> str:
    """Which stage limits the Europe job on each GPU: the model, or s2cloudless on the node's CPU.

    A g5.xlarge has 4 vCPUs, 2 physical cores like this machine, so s2cloudless's hours here are
    its hours there; an H100 of a p5 shares its node with 24 physical cores (12x this machine).
    """
    stages = result["europe_other_stages"]
    cores_per_gpu = {"A10G (g5.xlarge)": 1, "H100 SXM (p5)": 12}  # in units of this 2-core machine
    lines = []
    for row in result["europe"]:
        if row["work"] != "Europe, EquiCR" or row["device"] not in cores_per_gpu or row["precision"] == "fp32":
            continue
        for resolution in CLOUD_SECONDS_PER_PATCH:
            detection = (
                stages[f"cloud detection at {resolution} (hours of a 2-core CPU)"] / cores_per_gpu[row["device"]]
            )
            slower = "cloud detection" if detection > row["GPU-hours"] else "the model"
            lines.append(f"| {row['device']} | {row['precision']} | {resolution} | {row['GPU-hours']:,.0f} | "
                         f"{detection:,.0f} | {slower} |")  # fmt: skip
    read, written = stages["bytes read (TB)"], stages["bytes written (TB)"]
    return "\n".join([
        "Which stage limits, per GPU node (EquiCR; s2cloudless runs for the post-processing, on the node's CPU):",
        "",
        "| GPU | precision | cloud mask at | model hours (estimate) | cloud detection hours | slower stage |",
        "|---|---|---|---|---|---|",
        *lines,
        "",
        "At 10 m, s2cloudless costs as much as or more than the model on a GPU, as issue 14 says; computed at "
        "60 m and upsampled it drops out of the way. Reading and writing "
        f"({read:.1f} TB in, {written:.1f} TB out) spread over those hours is a few MB/s per GPU, far from limiting.",
    ])  # fmt: skip


def cpu_against_gpu(result: dict) -> str:
    """One sentence per job: the cheapest AMX CPU row against the cheapest GPU row (EquiCR)."""
    sentences = []
    for label, rows in (("The paper preset", result["training"]), ("Declouding Europe once", result["europe"])):
        equicr = [row for row in rows if "EquiCR" in row["work"] and row.get("USD") is not None]
        cpu = min((row for row in equicr if row["device"] in AMX_NODES), key=lambda row: row["USD"])
        gpu = min((row for row in equicr if row["device"] in GPUS), key=lambda row: row["USD"])
        sentences.append(
            f"{label} with EquiCR costs about ${cpu['USD']:,.0f} on AMX CPU nodes in {cpu['precision']} "
            f"({cpu['machine-hours']:,.0f} node-hours) against about ${gpu['USD']:,.0f} on {gpu['device']} in "
            f"{gpu['precision']}: {cpu['USD'] / gpu['USD']:.1f}x (both estimates)."
        )
    return " ".join(sentences)


def markdown(result: dict) -> str:
    """docs/capacity.md."""
    flop = result["flop_per_pixel"]
    paper = result["paper_preset"]
    cpu = result["cpu_gflops"]
    stages = result["europe_other_stages"]
    return f"""# Capacity plan

Generated by `python bench/capacity.py --markdown docs/capacity.md`; every number below comes from
that script and the files it names. **Measured** means measured on this project's machines;
**estimate** means computed from a published peak and an assumed efficiency, because no GPU was
available to this project when it was written. `bench/gpu.py` measures the GPU figures on a CUDA
machine (it writes `bench/results/gpu.json`; rerun this script afterwards and the estimates give
way to measurements where they exist: {"a GPU run is present" if result["gpu_measured"] else "none yet"}).

## Work, counted exactly

- Forward FLOP per output pixel (2 per multiply-add, from `ModelConfig.multiply_adds_per_pixel`,
  which the tests check against the exported convolutions): EquiCR {flop["EquiCR"] / 1e6:.1f} MFLOP,
  DSen2-CR {flop["DSen2-CR"] / 1e6:.1f} MFLOP ({flop["EquiCR"] / flop["DSen2-CR"]:.1f}x: 624 against
  256 feature channels at an equal parameter count).
- The paper preset (`jobs/experiments.py --preset paper`): Table I (2 architectures x 3 input modes)
  and Table II (training-set sizes 100, 1000 and all; "all" is Table I's SAR+optical run) make
  {paper["EquiCR"]["runs"]} runs per architecture, each {paper["EquiCR"]["epochs"]} epochs of
  {PAPER_SPLIT_SIZES["train"]:,} patches (smaller subsets repeat up to the same number of steps), a
  training step counting as {TRAINING_PASSES} forward passes, plus the validation split every epoch
  and the test split and the 12 real patches once per run. Fig. 3 is a view of the test evaluations
  and costs nothing more.
- Europe: about 10 million km^2 at 10 m, {EUROPE_PIXELS:.0e} pixels, computed {HALO_OVERHEAD}x
  over for the halos of 1024-px tiles (docs/performance.md).

## Throughput

- This CPU (2 cores of an AMD EPYC with AVX-512 BF16), measured with the full-width model
  (`bench/results/inference.json`): ONNX Runtime float32 {cpu["fp32"]:.0f} GFLOP/s, PyTorch bfloat16
  channels-last {cpu["bf16"] or 0:.0f} GFLOP/s.
- GPUs: published dense peaks (A10G: NVIDIA A10 datasheet, FP32 31.2, TF32 62.5, BF16 125 TFLOP/s;
  H100 SXM: 67, 495 and 989 TFLOP/s) times an assumed {ASSUMED_EFFICIENCY:.0%} efficiency: **estimates**.
  The CPU reaches 90-100% of its own `Conv2d` ceiling with these layer shapes, so the conversion
  is the uncertain part, not the model. List prices: g5.xlarge $1.006/h, p5.48xlarge $55.04/h for
  8 H100 (us-east-1 on-demand; edit `GPUS` in the script for yours).
- CPU nodes with AMX (c7i.8xlarge, 32 vCPU, $1.428/h us-east-1 on-demand): the one AMX measurement
  this project has, full-width EquiCR on 2 vCPUs of a loaded Sapphire Rapids class Xeon (DESIGN.md
  section 13: PyTorch bfloat16 channels-last 600 GFLOP/s, ONNX Runtime float32 a 4.8th of it),
  scaled linearly to 32 vCPUs: **estimates** (a whole node shares memory bandwidth; training's
  backward pass is assumed to run at the forward's rate).

{cpu_against_gpu(result)}

## The paper preset (Tables I and II, Fig. 3)

{table(result["training"], ["work", "device", "precision", "EFLOP", "GPU-hours", "machine-hours", "USD", "source"])}

EquiCR dominates: {flop["EquiCR"] / flop["DSen2-CR"]:.1f}x DSen2-CR's work per pixel at the same
parameter count. On the four A10G workers of `cluster.yaml` the EquiCR runs alone take the GPU-hours
above divided by 4 in wall-clock time; the paper-scale reproduction is a job for bfloat16 on
tensor cores (`--precision bf16`, which trains under autocast) or for H100-class GPUs. Memory: 2
patches of 256 px per worker need about 14 GiB for EquiCR without activation checkpointing and about
11 GiB with it (`bench/memory.py`, an estimate fitted on this CPU that predicts a held-out size within
5%), so the preset fits a 24 GB A10G without it.

## Declouding one Sentinel-2 revisit of Europe

{table(result["europe"], ["work", "device", "precision", "EFLOP", "GPU-hours", "machine-hours", "USD", "source"])}

Other stages of the same job (s2cloudless measured per patch on this CPU, scaled by pixel count):

| stage | amount |
|---|---|
{chr(10).join(f"| {name} | {value:,.1f} |" for name, value in stages.items())}

{limits(result)}

## What is not known yet

Every GPU number is an estimate until `bench/gpu.py` runs on a GPU: the efficiency of cuDNN on
624-channel 3x3 convolutions, whether TF32 keeps EquiCR's equivariance within 1e-5 (the benchmark
checks it), and the real peak memory of a training step.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", type=Path, help="also write the plan as Markdown here (docs/capacity.md)")
    args = parser.parse_args(argv)
    result = plan()
    text = markdown(result)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")
    write_results("capacity", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
