"""The experiments' report: Tables I and II, Fig. 3 and sample panels, on the test split and on real patches.

Written from a finished work folder (see :mod:`equicr.experiments.runner`) as one Markdown file with
its figures in a folder beside it, named after the file (``docs/results.md`` -> ``docs/results/``).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.evaluation.aggregate import markdown_table
from equicr.evaluation.compare import comparison_tables
from equicr.evaluation.report import plot_cover_bins, read_summary, save_samples
from equicr.experiments.presets import PRESETS, ExperimentPreset, ExperimentRun
from equicr.experiments.runner import REAL, TEST, ExperimentPaths
from equicr.models import ARCHITECTURE_NAMES, build_model, count_parameters

BASELINE_ROW = "cloudy input (no model)"
#: The first line of a report on synthetic data, so that nobody takes it for results on real clouds.
SYNTHETIC_LABEL = (
    "> **Synthetic data.** Every model in this report was trained on synthetic scenes. How models trained on "
    "real ground do on real clouds is in [results-real.md](results-real.md) (preset `real`)."
)
#: SEN12MS-CR split sizes the paper trained and tested on.
PAPER_SPLIT_SIZES = {"train": 114_056, "val": 7_176, "test": 7_899}
#: Sample panels drawn per target.
PANEL_SAMPLES = 4


def _summary(paths: ExperimentPaths, target: str, name: str) -> dict:
    return read_summary(paths.evaluation(target, name))


def _size_label(size: int | None, train_size: int) -> str:
    return str(size) if size else f"all ({train_size})"


def table_1(preset: ExperimentPreset, paths: ExperimentPaths, target: str) -> dict[tuple[str, str], dict]:
    """Summaries in Table I's layout: (architecture, input mode), with the cloudy input as a last row."""
    cells = {
        (ARCHITECTURE_NAMES[m.architecture], mode): _summary(
            paths, target, ExperimentRun(m.architecture, mode, None).name
        )
        for m in preset.models
        for mode in preset.input_modes
    }
    baseline = _summary(paths, target, CLOUDY_INPUT)
    return cells | {(BASELINE_ROW, mode): baseline for mode in preset.input_modes}


def table_2(preset: ExperimentPreset, paths: ExperimentPaths, target: str, train_size: int) -> dict:
    """Summaries in Table II's layout: (architecture, training-set size), SAR+optical, cloudy input last."""
    sizes = (*preset.subset_sizes, None)
    cells = {
        (ARCHITECTURE_NAMES[m.architecture], _size_label(size, train_size)): _summary(
            paths, target, ExperimentRun(m.architecture, "sar+opt", size).name
        )
        for m in preset.models
        for size in sizes
    }
    baseline = _summary(paths, target, CLOUDY_INPUT)
    return cells | {(BASELINE_ROW, _size_label(size, train_size)): baseline for size in sizes}


def gap_lines(cells: dict[tuple[str, str], dict]) -> list[str]:
    """EquiCR minus DSen2-CR in PSNR and SSIM for every column both have."""
    equicr, dsen2cr = ARCHITECTURE_NAMES["equicr"], ARCHITECTURE_NAMES["dsen2cr"]
    lines = []
    for column in dict.fromkeys(c for _, c in cells):
        if (equicr, column) in cells and (dsen2cr, column) in cells:
            a, b = cells[(equicr, column)]["mean"], cells[(dsen2cr, column)]["mean"]
            lines.append(f"- {column}: PSNR {a['psnr'] - b['psnr']:+.2f} dB, SSIM {a['ssim'] - b['ssim']:+.4f}")
    return lines


def scale_table(preset: ExperimentPreset, manifest: dict) -> str:
    """This run's scale beside the paper's."""
    paper = PRESETS["paper"]

    def models(p: ExperimentPreset) -> str:
        return ", ".join(
            f"{ARCHITECTURE_NAMES[m.architecture]} {m.width} x {m.num_blocks} blocks "
            f"({count_parameters(build_model(m, initialize=False)):,} parameters)"
            for m in p.models
        )

    synthetic = preset.synthetic
    data = (
        f"synthetic, {synthetic.count} patches of {synthetic.size} px, seed {synthetic.seed} "
        f"({manifest['train_size']} train)"
        if synthetic
        else f"{manifest['data']} ({manifest['train_size']} train)"
    )
    rows = [
        {"": "models", "this run": models(preset), "paper": models(paper) if preset is not paper else "same"},
        {"": "data", "this run": data,
         "paper": "SEN12MS-CR, 256 px, {train:,} train / {val:,} val / {test:,} test".format(**PAPER_SPLIT_SIZES)},
        {"": "Table II sizes", "this run": ", ".join(map(str, (*preset.subset_sizes, "all"))),
         "paper": "100, 1000, all"},
        {"": "training", "this run": _training(preset.training), "paper": "L1, Adam lr 3e-4, batch 8"},
    ]  # fmt: skip
    return markdown_table(rows, ["", "this run", "paper"])


def _training(config) -> str:
    return (
        f"L1, Adam lr {config.learning_rate:g}, batch {config.batch_size}, {config.epochs} epochs, "
        f"seed {config.seed}; subsets repeated to the full set's steps per epoch"
    )


def write_results(preset: ExperimentPreset, work: str | Path, report: str | Path, command: str) -> Path:
    """Write the report for the finished work folder ``work`` to ``report`` (figures beside it)."""
    work, report = Path(work), Path(report)
    manifest = json.loads((work / "manifest.json").read_text())
    paths = ExperimentPaths(work, manifest["storage"])
    figures = report.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    runs = manifest["runs"]
    lines = [
        f"# EquiCR experiments: preset `{preset.name}`",
        "",
        *([SYNTHETIC_LABEL, ""] if preset.synthetic else []),
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} "
        f"({platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}). "
        f"Training took {sum(r['train_seconds'] for r in runs.values()) / 60:.1f} min for {len(runs)} runs. "
        f"Preset: {preset.description}.",
        "",
        "## Scale: this run against the paper",
        "",
        scale_table(preset, manifest),
        "",
    ]
    if preset.caveats:
        lines += ["## Reading these numbers", "", *(f"- {caveat}" for caveat in preset.caveats), ""]
    for target in manifest["targets"]:
        lines += _target_section(preset, paths, target, manifest, figures, report.parent)
    lines += ["## Runs", "", markdown_table(
        [{"run": name, **{k: r[k] for k in ("parameters", "train_patches", "epochs", "train_seconds")}}
         for name, r in runs.items()],
        ["run", "parameters", "train_patches", "epochs", "train_seconds"], digits=1,
    ), ""]  # fmt: skip
    report.write_text("\n".join(lines))
    return report


def _target_section(
    preset: ExperimentPreset, paths: ExperimentPaths, target: str, manifest: dict, figures: Path, root: Path
) -> list[str]:
    count = _summary(paths, target, CLOUDY_INPUT)["mean"]["images"]
    heading = {
        TEST: f"Test split of the experiment's data ({count} patches)",
        REAL: f"Real SEN12MS-CR patches (the real-data folder: {count} patches of 256 px, the same models)",
    }[target]
    first = table_1(preset, paths, target)
    second = table_2(preset, paths, target, manifest["train_size"])
    equicr, dsen2cr = (ARCHITECTURE_NAMES[m.architecture] for m in preset.models)
    bins = {
        name: _summary(paths, target, run)["cover_bins"]
        for name, run in (
            (equicr, ExperimentRun("equicr", "sar+opt", None).name),
            (dsen2cr, ExperimentRun("dsen2cr", "sar+opt", None).name),
            (BASELINE_ROW, CLOUDY_INPUT),
        )
    }
    chart = plot_cover_bins(bins, figures / f"{target}_cover_bins.png")
    checkpoint = manifest["runs"][ExperimentRun("equicr", "sar+opt", None).name]["checkpoint"]
    collection = manifest["targets"][target]
    samples = save_samples(checkpoint, collection, "test", list(range(min(PANEL_SAMPLES, count))),
                           figures / f"{target}_samples.png")  # fmt: skip
    psnr_bins = [{"bin": row["bin"], "images": row["images"], **{n: b[i]["psnr"] for n, b in bins.items()}}
                 for i, row in enumerate(bins[equicr])]  # fmt: skip
    return [
        f"## {heading}",
        "",
        f"### Table I: architecture x input mode (trained on all {manifest['train_size']} train patches)",
        "",
        comparison_tables(first, corner="model").replace("### ", "#### "),
        "EquiCR minus DSen2-CR:",
        "",
        *gap_lines(first),
        "",
        "### Table II: architecture x training-set size (SAR+optical)",
        "",
        comparison_tables(second, corner="model").replace("### ", "#### "),
        "EquiCR minus DSen2-CR:",
        "",
        *gap_lines(second),
        "",
        "### Fig. 3: median PSNR and SSIM per cloud-cover bin (SAR+optical, all train patches)",
        "",
        f"![cover bins]({chart.relative_to(root)})",
        "",
        "Median PSNR (dB) per bin:",
        "",
        markdown_table(psnr_bins, ["bin", "images", *bins], digits=2),
        "",
        "### Fig. 2: samples (EquiCR, SAR+optical)",
        "",
        f"![samples]({samples.relative_to(root)})",
        "",
    ]
