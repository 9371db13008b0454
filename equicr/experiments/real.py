"""Preset ``real``: train on real ground with simulated clouds, judge on real clouds never seen.

Three model variants at equal parameter counts: EquiCR, DSen2-CR, and DSen2-CR trained with random
90-degree rotations and flips (the paper's claim is that built-in equivariance beats augmentation).
Training data: composites (:mod:`equicr.data.composite`) over the clear backgrounds of the shared
data folder. Evaluation: the scene-disjoint test bench (:func:`equicr.data.real.write_test_bench`):

- ``real-clouds``: 25 real cloudy/clear pairs, optical-only models;
- ``triplets``: 12 real triplets, every model (SAR+optical ones use the real SAR);
- ``do-no-harm``: 19 pairs whose "cloudy" date is clear, optical-only models, scored against the
  clear date and against the model's own input (a model that leaves clear images alone scores a
  high PSNR against its input).

Runs: the headline optical-only comparison with several seeds, SAR+optical with one seed, and a
training-size sweep (optical only, one seed), every size trained for the same number of steps.
Work folder layout and resuming follow :mod:`equicr.experiments.runner`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equicr.bands import has_sar_input
from equicr.data.collection import collection_has_sar
from equicr.data.dataset import split_indices
from equicr.data.real import DO_NO_HARM, load_real_data
from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.errors import UserError
from equicr.evaluation.report import read_summary, write_report
from equicr.evaluation.scoring import evaluate_split
from equicr.experiments.runner import train_and_record
from equicr.ingest.geotiffs import write_test_bench
from equicr.ingest.simulated import write_composites
from equicr.models import ModelConfig
from equicr.storage import write_json
from equicr.training.config import TrainConfig

MANIFEST = "manifest.json"
#: The do-no-harm set scored against the model's own input rather than the clear date.
AGAINST_INPUT = "do-no-harm-vs-input"
#: Variant names: architecture, and whether training rotates and flips its samples.
VARIANTS: dict[str, tuple[str, bool]] = {"EquiCR": ("equicr", False), "DSen2-CR": ("dsen2cr", False),
                                          "DSen2-CR + rot/flip": ("dsen2cr", True)}  # fmt: skip


@dataclass(frozen=True)
class RealRun:
    """One trained model: variant, input mode, training-set size (None: all) and seed."""

    variant: str
    input_mode: str
    subset_size: int | None
    seed: int

    @property
    def name(self) -> str:
        architecture, augment = VARIANTS[self.variant]
        return (f"{architecture}{'-aug' if augment else ''}-{self.input_mode}-{self.subset_size or 'all'}"
                f"-s{self.seed}")  # fmt: skip


@dataclass(frozen=True)
class RealPreset:
    """Everything that fixes one reproduction of the real-imagery experiments."""

    name: str
    description: str
    models: tuple[ModelConfig, ModelConfig]  # EquiCR, then DSen2-CR at (about) its parameter count
    training: TrainConfig
    composite_count: int
    composite_size: int
    seeds: tuple[int, ...]  # the headline optical-only comparison repeats over these
    subset_sizes: tuple[int, ...]  # the training-size sweep (optical only); "all" is the headline
    composite_seed: int = 0
    sar_runs: bool = True  # also train every variant with SAR+optical input (first seed)
    caveats: tuple[str, ...] = ()  # what the report must say about how far its numbers carry

    def model(self, variant: str, input_mode: str) -> ModelConfig:
        architecture, _ = VARIANTS[variant]
        (config,) = [m for m in self.models if m.architecture == architecture]
        return dataclasses.replace(config, input_mode=input_mode)

    def runs(self) -> list[RealRun]:
        """Headline (optical only, every seed), SAR+optical (first seed), the size sweep (first seed)."""
        first = self.seeds[0]
        headline = [RealRun(v, "opt", None, seed) for seed in self.seeds for v in VARIANTS]
        sar = [RealRun(v, "sar+opt", None, first) for v in VARIANTS] if self.sar_runs else []
        sweep = [RealRun(v, "opt", size, first) for size in self.subset_sizes for v in VARIANTS]
        return list(dict.fromkeys(headline + sar + sweep))


REAL_PRESET = RealPreset(
    name="real",
    description="2 CPU cores, about an hour: small models at equal parameter counts trained on composites of "
    "real clear Sentinel-2 under simulated clouds, tested on real clouds",
    # The cpu preset's models: 43,657 and 44,036 trainable parameters.
    models=(ModelConfig("equicr", width=12, num_blocks=6), ModelConfig("dsen2cr", width=19, num_blocks=6)),
    training=TrainConfig(epochs=8, batch_size=8, learning_rate=1e-3, cpus_per_worker=2, seed=0),
    composite_count=400,
    composite_size=64,
    seeds=(0, 1, 2),
    subset_sizes=(40,),
    caveats=(
        "Little ground: 23 clear backgrounds from 5 scenes (the rest of the real data is the test bench, and the "
        "Rome tile is held out entirely). Most of it is sea, snow and dark forest; only two "
        "scenes show farmland or open land. Random crops give 400 different composites, not 400 different "
        "places: a model can learn the look of these few scenes, and validation (every tenth composite, the same "
        "scenes) cannot tell; only the test bench can.",
        "Simulated clouds: SatelliteCloudGenerator's shapes and our per-band brightness are close to real L1C "
        "clouds but not the same; the test bench measures how far that carries. Thick cloud hides the ground "
        "completely, and an optical-only model cannot know what is under it: it can only fill in plausible ground, "
        "so its scores under thick cloud are bounded.",
        "Small models and short training: 44 thousand parameters (the paper: 18.7 million), 8 epochs on 2 CPU "
        "cores. Differences of a few tenths of a dB between variants are within the seed spread shown.",
        "SAR+optical models saw real Sentinel-1 for only 3 of the 23 backgrounds; the others carry the SAR fill "
        "value (no measurement). Every test triplet has real SAR, which these models have hardly learnt to use, so "
        "their triplet scores measure that gap rather than what SAR can add.",
        "Real pairs are not perfect targets: the clear date differs from the cloudy one by days to weeks (the Rome "
        "series' change floor between two clear dates is about 31 dB PSNR), so even a perfect model does not "
        "score without limit.",
    ),
)


def train_config(preset: RealPreset, run: RealRun, data: str, storage: str, train_size: int) -> TrainConfig:
    """One run's training config: the preset's settings, the run's model, augmentation, seed and subset."""
    _, augment = VARIANTS[run.variant]
    return dataclasses.replace(
        preset.training, model=preset.model(run.variant, run.input_mode), data=data, subset_size=run.subset_size,
        augment=augment, seed=run.seed, min_samples_per_epoch=train_size if run.subset_size else None,
        run_name=f"{preset.name}-{run.name}", storage_path=storage,
    )  # fmt: skip


def targets_for(model_input_mode: str, targets: dict[str, str]) -> list[str]:
    """The test-bench collections a model of this input mode is scored on (SAR models need SAR)."""
    return [t for t, c in targets.items() if not has_sar_input(model_input_mode) or collection_has_sar(c)]


def evaluate_once(model: str, input_mode: str, targets: dict[str, str], folder: Path, label: str) -> None:
    """Score ``model`` on every test-bench collection it can be scored on, skipping finished reports."""
    for target in targets_for(input_mode, targets):
        if not (folder / target / "summary.json").is_file():
            records = evaluate_split(model, targets[target], progress=False)
            write_report(records, folder / target, f"{label} on {target}")
        if target == DO_NO_HARM and not (folder / AGAINST_INPUT / "summary.json").is_file():
            records = evaluate_split(model, targets[target], progress=False, against_input=True)
            write_report(records, folder / AGAINST_INPUT, f"{label} on {target}, against its own input")


def run_real_experiments(preset: RealPreset, work: str | Path, shared_data: Path, storage: str | None = None) -> dict:
    """Composites, test bench, every run trained and scored; returns the manifest. A rerun resumes."""
    work = Path(work)
    if not shared_data.is_dir():
        raise FileNotFoundError(f"{shared_data} is not a folder: preset {preset.name!r} needs the real data there")
    real = load_real_data(shared_data)
    data = str(work / "data" / "composites.zarr")
    report = write_composites(real.backgrounds, data, preset.composite_count, preset.composite_size,
                              preset.composite_seed, progress=False)  # fmt: skip
    if report.failures:
        raise UserError(f"composites incomplete: {report.failures}")
    targets = write_test_bench(real, work / "data" / "testbench")
    storage = storage or str(work / "runs")
    train_size = len(split_indices(data, "train"))
    manifest_path = work / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    background_scenes = sorted({patch.scene for patch in real.backgrounds})
    manifest.update(preset=preset.name, data=data, targets=targets, train_size=train_size, storage=storage,
                    backgrounds=len(real.backgrounds), background_scenes=background_scenes)  # fmt: skip
    manifest.setdefault("runs", {})
    evaluate_once(CLOUDY_INPUT, "opt", targets, work / "eval" / CLOUDY_INPUT, "cloudy input")
    runs = preset.runs()
    for number, run in enumerate(runs, start=1):
        folder = work / "eval" / run.name
        if run.name in manifest["runs"] and all(
            (folder / t / "summary.json").is_file() for t in targets_for(run.input_mode, targets)
        ):
            print(f"[{number}/{len(runs)}] {run.name}: done already", flush=True)
            continue
        config = train_config(preset, run, data, storage, train_size)
        print(f"[{number}/{len(runs)}] {run.name}: training {config.model} for {config.epochs} epochs", flush=True)
        manifest["runs"][run.name] = {**dataclasses.asdict(run), **train_and_record(config, train_size)}
        evaluate_once(manifest["runs"][run.name]["checkpoint"], run.input_mode, targets, folder, run.name)
        write_json(manifest_path, manifest)
    write_json(manifest_path, manifest)
    return manifest


# ------------------------------------------------------------------------------------------ report


def cell(work: Path, runs: list[str], target: str, metric: str) -> tuple[float, float, int]:
    """Mean, spread (sample standard deviation; NaN for one run) and count of a metric over runs' means."""
    values = [read_summary(work / "eval" / run / target)["mean"][metric] for run in runs]
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


def write_real_results(preset: RealPreset, work: str | Path, report: str | Path, command: str) -> Path:
    """The ``real`` report from a finished work folder: tables with spread, do-no-harm, per-pair panels."""
    from equicr.evaluation.aggregate import markdown_table
    from equicr.evaluation.report import save_samples

    work, report = Path(work), Path(report)
    manifest = json.loads((work / MANIFEST).read_text())
    figures = report.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    first = preset.seeds[0]
    headline = {v: [RealRun(v, "opt", None, s).name for s in preset.seeds] for v in VARIANTS}
    baseline = {"cloudy input (no model)": [CLOUDY_INPUT]}
    real_clouds = markdown_table(_metric_rows(work, headline | baseline, "real-clouds"),
                                 ["model", "runs", "PSNR", "SSIM", "SAM", "MAE"])  # fmt: skip
    modes = {f"{v}, {mode}": [RealRun(v, mode, None, first).name] for v in VARIANTS
             for mode in ("opt", "sar+opt") if mode == "opt" or preset.sar_runs}  # fmt: skip
    triplets = markdown_table(_metric_rows(work, modes | baseline, "triplets"),
                              ["model", "runs", "PSNR", "SSIM", "SAM", "MAE"])  # fmt: skip
    sizes = [*preset.subset_sizes, None]
    sweep_rows = []
    for v in VARIANTS:
        row = {"model": v}
        for size in sizes:
            runs = [RealRun(v, "opt", size, first).name]
            row[str(size or f"all ({manifest['train_size']})")] = cell(work, runs, "real-clouds", "psnr")[0]
        sweep_rows.append(row)
    sweep = markdown_table(sweep_rows, ["model", *(str(s or f"all ({manifest['train_size']})") for s in sizes)], 2)
    harm_rows = []
    for label, runs in headline.items():
        vs_input, vs_clear = cell(work, runs, AGAINST_INPUT, "psnr"), cell(work, runs, "do-no-harm", "psnr")
        harm_rows.append({"model": label, "PSNR vs own input": _fmt(*vs_input[:2], 2),
                          "PSNR vs clear date": _fmt(*vs_clear[:2], 2)})  # fmt: skip
    keep_clear = cell(work, [CLOUDY_INPUT], "do-no-harm", "psnr")[0]
    harm_rows.append({"model": "cloudy input (no model)", "PSNR vs own input": "identical",
                      "PSNR vs clear date": _fmt(keep_clear, math.nan, 2)})  # fmt: skip
    harm = markdown_table(harm_rows, ["model", "PSNR vs own input", "PSNR vs clear date"])

    # The best model on real clouds, and whether it beats leaving the clouds in on PSNR, SSIM and SAM at once.
    every = [name for runs in headline.values() for name in runs]
    best = max(every, key=lambda run: cell(work, [run], "real-clouds", "psnr")[0])
    keep = {m: cell(work, [CLOUDY_INPUT], "real-clouds", m)[0] for m, _, _ in REPORT_METRICS}
    mine = {m: cell(work, [best], "real-clouds", m)[0] for m, _, _ in REPORT_METRICS}
    wins = {m: (mine[m] > keep[m]) == higher for m, _, higher in REPORT_METRICS}
    harmless = cell(work, [best], AGAINST_INPUT, "psnr")[0]
    verdict = [
        f"Best model on the real clouds: `{best}` (PSNR {mine['psnr']:.2f} dB, SSIM {mine['ssim']:.4f}, "
        f"SAM {mine['sam']:.2f}; leaving the clouds in: {keep['psnr']:.2f} dB, {keep['ssim']:.4f}, {keep['sam']:.2f}).",
        "It beats leaving the clouds in on "
        + (", ".join(m.upper() for m in ("psnr", "ssim", "sam") if wins[m]) or "none of PSNR, SSIM, SAM")
        + ("; all three at once." if all(wins[m] for m in ("psnr", "ssim", "sam")) else
           f"; it misses {', '.join(m.upper() for m in ('psnr', 'ssim', 'sam') if not wins[m])} "
           f"(by {', '.join(f'{abs(mine[m] - keep[m]):.3g}' for m in ('psnr', 'ssim', 'sam') if not wins[m])})."),
        f"On the do-no-harm set it scores {harmless:.2f} dB against its own input (target: at least 40 dB).",
    ]  # fmt: skip
    checkpoint = manifest["runs"][best]["checkpoint"]
    count = read_summary(work / "eval" / CLOUDY_INPUT / "real-clouds")["mean"]["images"]
    half = (count + 1) // 2
    panels = [save_samples(checkpoint, manifest["targets"]["real-clouds"], "test", list(range(start, stop)),
                           figures / f"real_clouds_{part}.png")
              for part, (start, stop) in enumerate(((0, half), (half, count)), start=1)]  # fmt: skip
    runs = manifest["runs"]
    lines = [
        f"# EquiCR on real clouds: preset `{preset.name}`",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}. Training took "
        f"{sum(r['train_seconds'] for r in runs.values()) / 60:.1f} min for {len(runs)} runs. {preset.description}.",
        "",
        "## What was trained and on what",
        "",
        f"- Models at equal parameter counts: EquiCR {preset.models[0].width} x {preset.models[0].num_blocks} blocks "
        f"({next(iter(runs.values()))['parameters']:,} parameters), DSen2-CR {preset.models[1].width} x "
        f"{preset.models[1].num_blocks} blocks, and the same DSen2-CR trained with random 90-degree rotations and "
        "flips of every sample.",
        f"- Training data: {preset.composite_count} composites of {preset.composite_size} px "
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
        *(
            ["## Reading these numbers", "", *(f"- {caveat}" for caveat in preset.caveats), ""]
            if preset.caveats
            else []
        ),
        "## Real clouds, optical-only input (25 pairs)",
        "",
        real_clouds,
        "",
        *verdict,
        "",
        "## Real triplets: optical-only against SAR+optical (12 triplets, first seed)",
        "",
        triplets,
        "",
        "## Training-set size (optical only, real clouds, PSNR dB, first seed)",
        "",
        sweep,
        "",
        "## Do no harm (19 pairs whose cloudy date is clear)",
        "",
        harm,
        "",
        f"## Per-pair panels: `{best}` on the 25 real-cloud pairs",
        "",
        *(f"![real clouds {i}]({panel.relative_to(report.parent)})" for i, panel in enumerate(panels, 1)),
        "",
        "## Runs",
        "",
        markdown_table(
            [
                {"run": name, **{k: r[k] for k in ("parameters", "train_patches", "epochs", "train_seconds")}}
                for name, r in runs.items()
            ],
            ["run", "parameters", "train_patches", "epochs", "train_seconds"],
            digits=1,
        ),  # fmt: skip
        "",
    ]
    report.write_text("\n".join(lines))
    return report


# ------------------------------------------------------------------------------------------ shipping


def best_real_run(work: Path, preset: RealPreset) -> str:
    """The headline run with the highest PSNR on the real-cloud pairs."""
    runs = [RealRun(v, "opt", None, seed).name for seed in preset.seeds for v in VARIANTS]
    return max(runs, key=lambda run: cell(work, [run], "real-clouds", "psnr")[0])


def ship_model(preset: RealPreset, work: str | Path, out: Path) -> Path:
    """Copy the best ``real`` model to ``out`` (weights and config only) and write MODEL_CARD.md beside it.

    Every number on the card is read from the work folder's evaluation summaries.
    """
    from equicr.checkpoint import load_model, save_checkpoint
    from equicr.storage import file_sha256

    work = Path(work)
    manifest = json.loads((work / MANIFEST).read_text())
    run = best_real_run(work, preset)
    entry = manifest["runs"][run]
    model, checkpoint = load_model(entry["checkpoint"])
    config = checkpoint.config
    save_checkpoint(out, model, config, source_run=run)

    def scores(name: str, target: str) -> str:
        mean = read_summary(work / "eval" / name / target)["mean"]
        return f"PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f}, SAM {mean['sam']:.2f} deg, MAE {mean['mae']:.4f}"

    architecture, augment = VARIANTS[RealRun(**{k: entry[k] for k in ("variant", "input_mode", "subset_size",
                                                                       "seed")}).variant]  # fmt: skip
    card = f"""# Model card: `{out.name}`

A small cloud-removal network for Sentinel-2 L1C, shipped for a first look
(`jobs/decloud.py` uses it when no `--model` is given; `jobs/demo.py` scores it on a real patch).

- **Model**: {entry["variant"]} ({architecture}, width {config.width}, {config.num_blocks} blocks, group
  {config.group}), {entry["parameters"]:,} parameters; input `{config.input_mode}` (the cloudy 13-band image
  only; Sentinel-1 is not used). Run `{run}` of preset `{preset.name}` (the best of its headline runs on the
  real-cloud pairs), {entry["epochs"]} epochs{", trained with rotations and flips" if augment else ""}.
- **SHA-256**: `{file_sha256(out)}`.
- **Training data**: {manifest["train_size"]} composites of {preset.composite_size} px: SatelliteCloudGenerator
  clouds and shadows over {manifest["backgrounds"]} real clear Sentinel-2 patches of SEN12MS-CR
  (scenes {", ".join(manifest["background_scenes"])}), none of them from a test-bench scene.
- **Scores on the real test bench** (256 px, 10 m, never seen in training):
  - 25 real cloudy/clear pairs: {scores(run, "real-clouds")};
    leaving the clouds in: {scores(CLOUDY_INPUT, "real-clouds")}.
  - 12 real triplets: {scores(run, "triplets")}; leaving the clouds in: {scores(CLOUDY_INPUT, "triplets")}.
  - 19 clear "cloudy" dates (do no harm), against its own input: {scores(run, AGAINST_INPUT)}.
- **Limits**: trained on {manifest["backgrounds"]} backgrounds from {len(manifest["background_scenes"])} scenes
  with simulated clouds. It thins haze and thin cloud and dims thick cloud, but cannot recover ground under
  thick cloud over land it has never seen; it shifts colours (its SAM is worse than the cloudy input's) and
  gives bright farmland a bluish, textured cast; overcast becomes invented texture (see the report panels).
  44 thousand parameters, 8 epochs on two CPU
  cores: a demonstration of the pipeline on real imagery, not the paper's model (18.7 million parameters,
  SEN12MS-CR). The full report is `docs/results-real.md`.
"""
    (out.parent / "MODEL_CARD.md").write_text(card)
    return out
