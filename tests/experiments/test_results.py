"""Preset `real` at its smallest: composites, the real test bench, the three variants, the report."""

import dataclasses
import json

import pytest

from equicr.checkpoint import read_checkpoint
from equicr.experiments.model_card import ship_model
from equicr.experiments.presets import PRESETS, VARIANTS, CompositeData, ExperimentPreset, ExperimentRun
from equicr.experiments.results import best_headline_run, write_results
from equicr.experiments.runner import AGAINST_INPUT, run_experiments, targets_for, train_config
from equicr.models import ModelConfig, build_model, count_parameters
from equicr.storage import file_sha256
from equicr.training.config import TrainConfig
from tests.fixtures.paths import SHARED_DATA_DIR

REAL_PRESET = PRESETS["real"]
TINY_REAL = ExperimentPreset(
    name="tiny-real",
    description="test preset",
    models=(ModelConfig("equicr", width=2, num_blocks=1), ModelConfig("dsen2cr", width=3, num_blocks=1)),
    training=TrainConfig(epochs=1, batch_size=4, learning_rate=1e-3, cpus_per_worker=1, max_failures=0),
    subset_sizes=(),
    data=CompositeData(count=10, size=24),
    variants=tuple(VARIANTS),
    input_modes=("opt",),  # the smallest configuration: the three variants once (SAR scoring: see below)
    seeds=(0,),
    headline_mode="opt",
    sweep_mode="opt",
    test_bench=True,
)


def test_the_real_preset_runs_the_headline_with_seeds_sar_and_a_size_sweep():
    runs = REAL_PRESET.runs()
    names = [run.name for run in runs]
    assert len(names) == len(set(names)) == 3 * 3 + 3 + 3 * len(REAL_PRESET.subset_sizes)
    headline = [r for r in runs if r.input_mode == "opt" and r.subset_size is None]
    assert {(r.variant, r.seed) for r in headline} == {(v, s) for v in VARIANTS for s in (0, 1, 2)}
    assert "dsen2cr-aug-opt-all-s2" in names and "equicr-sar+opt-all-s0" in names and "dsen2cr-opt-40-s0" in names
    equicr, dsen2cr = (count_parameters(build_model(m, initialize=False)) for m in REAL_PRESET.models)
    assert abs(equicr - dsen2cr) / equicr < 0.02


def test_only_the_augmented_variant_rotates_and_flips_and_seeds_reach_training():
    plain = train_config(REAL_PRESET, ExperimentRun("dsen2cr", "opt", None, 1), "d.zarr", "runs", 360)
    augmented = train_config(REAL_PRESET, ExperimentRun("dsen2cr-aug", "opt", 40, 2), "d.zarr", "runs", 360)
    equivariant = train_config(REAL_PRESET, ExperimentRun("equicr", "sar+opt", None, 0), "d.zarr", "runs", 360)
    assert not plain.augment and augmented.augment and not equivariant.augment
    assert (plain.seed, augmented.seed) == (1, 2) and augmented.min_samples_per_epoch == 360
    assert equivariant.model.architecture == "equicr" and equivariant.model.input_mode == "sar+opt"
    assert plain.model == dataclasses.replace(REAL_PRESET.models[1], input_mode="opt")


@pytest.mark.slow
def test_tiny_real_preset_end_to_end_and_resume(tmp_path, capsys, mini_dir, local_ray):
    work = tmp_path / "work"
    manifest = run_experiments(TINY_REAL, work, real_data=SHARED_DATA_DIR)
    assert set(manifest["runs"]) == {run.name for run in TINY_REAL.runs()}
    scored = sorted(target.name for target in (work / "eval").iterdir() if (target / "equicr-opt-all-s0").is_dir())
    assert scored == sorted([AGAINST_INPUT, "do-no-harm", "real-clouds", "triplets", "virginia-unseen"])
    assert targets_for("sar+opt", manifest["targets"]) == ["triplets"]  # SAR models: never optical-only pairs
    assert targets_for("opt", manifest["targets"]) == ["real-clouds", "triplets", "do-no-harm", "virginia-unseen"]
    summary = json.loads((work / "eval" / "real-clouds" / "dsen2cr-aug-opt-all-s0" / "summary.json").read_text())
    assert summary["mean"]["images"] == 25

    report = write_results(TINY_REAL, work, tmp_path / "docs" / "results-real.md", "python jobs/experiments.py")
    text = report.read_text()
    for expected in ("## Real clouds, optical-only input (25 pairs)", "| DSen2-CR + rot/flip | 1 |",
                     "Best model on the real clouds", "against its own input", "real_clouds_1.png"):  # fmt: skip
        assert expected in text, expected
    assert (tmp_path / "docs" / "results-real" / "real_clouds_2.png").is_file()

    shipped = ship_model(TINY_REAL, work, tmp_path / "models" / "shipped.pt")
    card = (tmp_path / "models" / "MODEL_CARD.md").read_text()
    best = best_headline_run(TINY_REAL, work)
    measured = json.loads((work / "eval" / "real-clouds" / best / "summary.json").read_text())["mean"]["psnr"]
    assert f"Run `{best}`" in card and f"PSNR {measured:.2f} dB" in card and file_sha256(shipped) in card
    assert read_checkpoint(shipped).optimizer_state is None  # weights and config only: a few hundred KB at most

    capsys.readouterr()
    run_experiments(TINY_REAL, work, real_data=SHARED_DATA_DIR)  # a rerun trains nothing
    assert capsys.readouterr().out.count("done already") == len(TINY_REAL.runs())
