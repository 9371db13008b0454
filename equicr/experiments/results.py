"""The experiments' report, for every preset, from a finished work folder (:mod:`equicr.experiments.runner`).

One Markdown file with its figures in a folder beside it, named after the file (``docs/results.md``
-> ``docs/results/``): the run's scale and caveats, then per target either the paper's Tables I
and II, Fig. 3 and sample panels (test-split presets), or the real-cloud test bench's tables with
seed spread, the size sweep, do-no-harm and per-pair panels (test-bench presets), then the runs.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.evaluation.aggregate import markdown_table
from equicr.evaluation.compare import comparison_tables
from equicr.evaluation.report import read_summary, save_samples
from equicr.experiments.presets import PRESETS, VARIANTS, ExperimentPreset, ExperimentRun
from equicr.experiments.runner import AGAINST_INPUT, MANIFEST, REAL, TEST, evaluation_folder
from equicr.models import ARCHITECTURE_NAMES, build_model, count_parameters
from equicr.plots import plot_cover_bins
from equicr.storage import write_text

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


def _summary(work: Path, target: str, name: str) -> dict:
    return read_summary(evaluation_folder(work, target, name))


def _size_label(size: int | None, train_size: int) -> str:
    return str(size) if size else f"all ({train_size})"


def table_1(preset: ExperimentPreset, work: Path, target: str) -> dict[tuple[str, str], dict]:
    """Summaries in Table I's layout: (architecture, input mode), with the cloudy input as a last row."""
    cells = {
        (ARCHITECTURE_NAMES[m.architecture], mode): _summary(
            work, target, ExperimentRun(m.architecture, mode, None).name
        )
        for m in preset.models
        for mode in preset.input_modes
    }
    baseline = _summary(work, target, CLOUDY_INPUT)
    return cells | {(BASELINE_ROW, mode): baseline for mode in preset.input_modes}


def table_2(preset: ExperimentPreset, work: Path, target: str, train_size: int) -> dict:
    """Summaries in Table II's layout: (architecture, training-set size), SAR+optical, cloudy input last."""
    sizes = (*preset.subset_sizes, None)
    cells = {
        (ARCHITECTURE_NAMES[m.architecture], _size_label(size, train_size)): _summary(
            work, target, ExperimentRun(m.architecture, "sar+opt", size).name
        )
        for m in preset.models
        for size in sizes
    }
    baseline = _summary(work, target, CLOUDY_INPUT)
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

    synthetic = preset.data
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
    manifest = json.loads((work / MANIFEST).read_text())
    figures = report.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    runs = manifest["runs"]
    title = "EquiCR on real clouds" if preset.test_bench else "EquiCR experiments"
    lines = [
        f"# {title}: preset `{preset.name}`",
        "",
        *([SYNTHETIC_LABEL, ""] if not preset.test_bench and preset.data else []),
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} "
        f"({platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}). "
        f"Training took {sum(r['train_seconds'] for r in runs.values()) / 60:.1f} min for {len(runs)} runs. "
        f"Preset: {preset.description}.",
        "",
    ]
    if preset.test_bench:
        lines += _test_bench_setup(preset, manifest)
    else:
        lines += ["## Scale: this run against the paper", "", scale_table(preset, manifest), ""]
    if preset.caveats:
        lines += ["## Reading these numbers", "", *(f"- {caveat}" for caveat in preset.caveats), ""]
    if preset.test_bench:
        lines += _test_bench_sections(preset, work, manifest, figures, report.parent)
    else:
        for target in manifest["targets"]:
            lines += _target_section(preset, work, target, manifest, figures, report.parent)
    lines += ["## Runs", "", markdown_table(
        [{"run": name, **{k: r[k] for k in ("parameters", "train_patches", "epochs", "train_seconds")}}
         for name, r in runs.items()],
        ["run", "parameters", "train_patches", "epochs", "train_seconds"], digits=1,
    ), ""]  # fmt: skip
    write_text(report, "\n".join(lines))
    return report


def _target_section(
    preset: ExperimentPreset, work: Path, target: str, manifest: dict, figures: Path, root: Path
) -> list[str]:
    count = _summary(work, target, CLOUDY_INPUT)["mean"]["images"]
    heading = {
        TEST: f"Test split of the experiment's data ({count} patches)",
        REAL: f"Real SEN12MS-CR patches (the real-data folder: {count} patches of 256 px, the same models)",
    }[target]
    first = table_1(preset, work, target)
    second = table_2(preset, work, target, manifest["train_size"])
    equicr, dsen2cr = (ARCHITECTURE_NAMES[m.architecture] for m in preset.models)
    bins = {
        name: _summary(work, target, run)["cover_bins"]
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


# ------------------------------------------------------------------------------ test-bench presets


def cell(work: Path, runs: list[str], target: str, metric: str) -> tuple[float, float, int]:
    """Mean, spread (sample standard deviation; NaN for one run) and count of a metric over runs' means."""
    values = [_summary(work, target, run)["mean"][metric] for run in runs]
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return float(np.mean(values)), spread, len(values)


def _fmt(mean: float, spread: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if math.isnan(spread) else f"{mean:.{digits}f} ± {spread:.{digits}f}"


#: Metrics in the report: name, digits, whether higher is better.
REPORT_METRICS = (("psnr", 2, True), ("ssim", 4, True), ("sam", 2, False), ("mae", 4, False))


def _metric_rows(work: Path, groups: dict[str, list[str]], target: str) -> list[dict]:
    rows = []
    for label, runs in groups.items():
        row = {"model": label, "runs": len(runs)}
        for metric, digits, _ in REPORT_METRICS:
            row[metric.upper()] = _fmt(*cell(work, runs, target, metric)[:2], digits)
        rows.append(row)
    return rows


def _test_bench_setup(preset: ExperimentPreset, manifest: dict) -> list[str]:
    """What was trained, on what, and how it is judged."""
    runs = manifest["runs"]
    spec = preset.data
    return [
        "## What was trained and on what",
        "",
        f"- Models at equal parameter counts: EquiCR {preset.models[0].width} x {preset.models[0].num_blocks} blocks "
        f"({next(iter(runs.values()))['parameters']:,} parameters), DSen2-CR {preset.models[1].width} x "
        f"{preset.models[1].num_blocks} blocks, and the same DSen2-CR trained with random 90-degree rotations and "
        "flips of every sample.",
        f"- Training data: {spec.count} composites of {spec.size} px "
        f"({manifest['train_size']} train): SatelliteCloudGenerator clouds and shadows (thick, thin, haze, cirrus; "
        f"band brightness measured on real L1C clouds) over {manifest['backgrounds']} real clear Sentinel-2 "
        f"backgrounds from the scenes {', '.join(manifest['background_scenes'])}; every tenth composite "
        "validates (checkpoint selection).",
        f"- {preset.training.epochs} epochs, batch {preset.training.batch_size}, Adam lr "
        f"{preset.training.learning_rate:g}, L1; the size sweep trains every size for the same number of steps.",
        "- Test bench (scene-disjoint from every background, checked by `tests/data/test_real.py`): "
        "25 real cloudy/clear pairs (9 SEN12MS-CR, 16 from the SEN12MS-CR-TS Rome series; optical-only "
        "input), 12 real triplets (SAR + optical), 19 do-no-harm pairs. All 256 px at 10 m.",
        "- Spread: mean ± sample standard deviation over the runs of a cell (seeds "
        f"{', '.join(map(str, preset.seeds))} for the headline; one run elsewhere).",
        "",
    ]


def best_headline_run(preset: ExperimentPreset, work: Path) -> str:
    """The headline run with the highest PSNR on the real-cloud pairs."""
    every = [name for variant in preset.variants for name in preset.headline_runs(variant)]
    return max(every, key=lambda run: cell(work, [run], "real-clouds", "psnr")[0])


def _test_bench_sections(preset: ExperimentPreset, work: Path, manifest: dict, figures: Path, root: Path) -> list[str]:
    """Real clouds with seed spread and a verdict, triplets by input mode, the size sweep, do no harm, panels."""
    first = preset.seeds[0]
    headline = {VARIANTS[v].label: preset.headline_runs(v) for v in preset.variants}
    baseline = {BASELINE_ROW: [CLOUDY_INPUT]}
    columns = ["model", "runs", "PSNR", "SSIM", "SAM", "MAE"]
    real_clouds = markdown_table(_metric_rows(work, headline | baseline, "real-clouds"), columns)
    modes = {f"{VARIANTS[v].label}, {mode}": [ExperimentRun(v, mode, None, first).name] for v in preset.variants
             for mode in preset.input_modes}  # fmt: skip
    triplets = markdown_table(_metric_rows(work, modes | baseline, "triplets"), columns)
    sizes = [*preset.subset_sizes, None]
    size_columns = [str(size or f"all ({manifest['train_size']})") for size in sizes]
    sweep_rows = []
    for v in preset.variants:
        row = {"model": VARIANTS[v].label}
        for size, column in zip(sizes, size_columns, strict=True):
            run = ExperimentRun(v, preset.sweep_mode, size, first).name
            row[column] = cell(work, [run], "real-clouds", "psnr")[0]
        sweep_rows.append(row)
    sweep = markdown_table(sweep_rows, ["model", *size_columns], 2)
    harm_rows = []
    for label, runs in headline.items():
        vs_input, vs_clear = cell(work, runs, AGAINST_INPUT, "psnr"), cell(work, runs, "do-no-harm", "psnr")
        harm_rows.append({"model": label, "PSNR vs own input": _fmt(*vs_input[:2], 2),
                          "PSNR vs clear date": _fmt(*vs_clear[:2], 2)})  # fmt: skip
    keep_clear = cell(work, [CLOUDY_INPUT], "do-no-harm", "psnr")[0]
    harm_rows.append({"model": BASELINE_ROW, "PSNR vs own input": "identical",
                      "PSNR vs clear date": _fmt(keep_clear, math.nan, 2)})  # fmt: skip
    harm = markdown_table(harm_rows, ["model", "PSNR vs own input", "PSNR vs clear date"])

    # The best model on real clouds, and whether it beats leaving the clouds in on PSNR, SSIM and SAM at once.
    best = best_headline_run(preset, work)
    keep = {m: cell(work, [CLOUDY_INPUT], "real-clouds", m)[0] for m, _, _ in REPORT_METRICS}
    mine = {m: cell(work, [best], "real-clouds", m)[0] for m, _, _ in REPORT_METRICS}
    wins = {m: (mine[m] > keep[m]) == higher for m, _, higher in REPORT_METRICS}
    harmless = cell(work, [best], AGAINST_INPUT, "psnr")[0]
    missed = [m for m in ("psnr", "ssim", "sam") if not wins[m]]
    verdict = [
        f"Best model on the real clouds: `{best}` (PSNR {mine['psnr']:.2f} dB, SSIM {mine['ssim']:.4f}, "
        f"SAM {mine['sam']:.2f}; leaving the clouds in: {keep['psnr']:.2f} dB, {keep['ssim']:.4f}, {keep['sam']:.2f}).",
        "It beats leaving the clouds in on "
        + (", ".join(m.upper() for m in ("psnr", "ssim", "sam") if wins[m]) or "none of PSNR, SSIM, SAM")
        + ("; all three at once." if not missed else
           f"; it misses {', '.join(m.upper() for m in missed)} "
           f"(by {', '.join(f'{abs(mine[m] - keep[m]):.3g}' for m in missed)})."),
        f"On the do-no-harm set it scores {harmless:.2f} dB against its own input (target: at least 40 dB).",
    ]  # fmt: skip
    checkpoint = manifest["runs"][best]["checkpoint"]
    count = _summary(work, "real-clouds", CLOUDY_INPUT)["mean"]["images"]
    half = (count + 1) // 2
    panels = [save_samples(checkpoint, manifest["targets"]["real-clouds"], "test", list(range(start, stop)),
                           figures / f"real_clouds_{part}.png")
              for part, (start, stop) in enumerate(((0, half), (half, count)), start=1)]  # fmt: skip
    return [
        f"## Real clouds, optical-only input ({count} pairs)",
        "",
        real_clouds,
        "",
        *verdict,
        "",
        "## Real triplets: optical-only against SAR+optical (12 triplets, first seed)",
        "",
        triplets,
        "",
        f"## Training-set size ({preset.sweep_mode} input, real clouds, PSNR dB, first seed)",
        "",
        sweep,
        "",
        "## Do no harm (19 pairs whose cloudy date is clear)",
        "",
        harm,
        "",
        f"## Per-pair panels: `{best}` on the {count} real-cloud pairs",
        "",
        *(f"![real clouds {i}]({panel.relative_to(root)})" for i, panel in enumerate(panels, 1)),
        "",
    ]
