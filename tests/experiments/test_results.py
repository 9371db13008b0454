"""Preset `real` at its smallest: composites, the real test bench, its arms, the report."""

import dataclasses
import json

import pytest

from equicr.checkpoint import read_checkpoint
from equicr.experiments.model_card import ship_model
from equicr.experiments.presets import PRESETS, VARIANTS, CompositeData, ExperimentPreset, ExperimentRun
from equicr.experiments.results import NETWORK_ALONE, WRITTEN, _who_wins, best_headline_run, write_results
from equicr.experiments.runner import AGAINST_INPUT, evaluation_folder, run_experiments, targets_for, train_config
from equicr.models import ModelConfig, build_model, count_parameters
from equicr.storage import file_sha256
from equicr.training.config import TrainConfig
from tests.fixtures.paths import SHARED_DATA_DIR

REAL_PRESET = PRESETS["real"]
TINY_REAL = ExperimentPreset(
    name="tiny-real",
    description="test preset",
    models=(
        ModelConfig("equicr", width=2, num_blocks=1),
        ModelConfig("dsen2cr", width=3, num_blocks=1),
        ModelConfig("equicr", width=1, num_blocks=1, group="p4m"),
    ),
    training=TrainConfig(epochs=1, batch_size=4, learning_rate=1e-3, cpus_per_worker=1, max_failures=0),
    subset_sizes=(),
    data=CompositeData(count=10, size=24),
    # Two arms keep the test short; the plain EquiCR and DSen2-CR arms run in tests/experiments/test_runner.py.
    variants=("equicr-p4m", "dsen2cr-aug"),
    input_modes=("opt",),  # the smallest configuration: each arm once (SAR scoring: see below)
    seeds=(0,),
    headline_mode="opt",
    sweep_mode="opt",
    test_bench=True,
)


def test_the_real_preset_runs_the_headline_with_seeds_sar_and_a_size_sweep():
    runs = REAL_PRESET.runs()
    names = [run.name for run in runs]
    variants = len(VARIANTS)  # EquiCR p4, EquiCR p4m, DSen2-CR, DSen2-CR + rot/flip
    assert variants == 4 and len(names) == len(set(names)) == variants * (3 + 1 + len(REAL_PRESET.subset_sizes))
    headline = [r for r in runs if r.input_mode == "opt" and r.subset_size is None]
    assert {(r.variant, r.seed) for r in headline} == {(v, s) for v in VARIANTS for s in (0, 1, 2)}
    assert runs[: len(headline)] == headline  # an interrupted run has its main table first
    assert "dsen2cr-aug-opt-all-s2" in names and "equicr-sar+opt-all-s0" in names and "dsen2cr-opt-40-s0" in names
    assert "equicr-p4m-opt-all-s2" in names and "equicr-p4m-opt-40-s0" in names


@pytest.mark.parametrize("input_mode", ["opt", "sar+opt"])
def test_every_arm_of_the_real_preset_is_within_2_percent_of_the_baselines_parameters(input_mode):
    counts = {v: count_parameters(build_model(REAL_PRESET.model(v, input_mode), initialize=False)) for v in VARIANTS}
    for count in counts.values():
        assert abs(count - counts["dsen2cr"]) / counts["dsen2cr"] < 0.02, counts


def test_only_the_augmented_variant_rotates_and_flips_and_seeds_reach_training():
    plain = train_config(REAL_PRESET, ExperimentRun("dsen2cr", "opt", None, 1), "d.zarr", "runs", 360)
    augmented = train_config(REAL_PRESET, ExperimentRun("dsen2cr-aug", "opt", 40, 2), "d.zarr", "runs", 360)
    equivariant = train_config(REAL_PRESET, ExperimentRun("equicr", "sar+opt", None, 0), "d.zarr", "runs", 360)
    assert not plain.augment and augmented.augment and not equivariant.augment
    assert (plain.seed, augmented.seed) == (1, 2) and augmented.min_samples_per_epoch == 360
    assert equivariant.model.architecture == "equicr" and equivariant.model.input_mode == "sar+opt"
    assert plain.model == dataclasses.replace(REAL_PRESET.models[1], input_mode="opt")
    reflections = train_config(REAL_PRESET, ExperimentRun("equicr-p4m", "opt", None, 1), "d.zarr", "runs", 360)
    assert reflections.model.group == "p4m" and equivariant.model.group == "p4" and not reflections.augment
    assert reflections.run_name == "real-equicr-p4m-opt-all-s1"


@pytest.mark.slow
def test_tiny_real_preset_end_to_end_and_resume(tmp_path, capsys, mini_dir, local_ray):
    work = tmp_path / "work"
    manifest = run_experiments(TINY_REAL, work, real_data=SHARED_DATA_DIR)
    assert set(manifest["runs"]) == {run.name for run in TINY_REAL.runs()}
    scored = sorted(target.name for target in (work / "eval").iterdir() if (target / "equicr-p4m-opt-all-s0").is_dir())
    assert scored == sorted([AGAINST_INPUT, "do-no-harm", "real-clouds", "triplets", "virginia-unseen"])
    assert targets_for("sar+opt", manifest["targets"]) == ["triplets"]  # SAR models: never optical-only pairs
    assert targets_for("opt", manifest["targets"]) == ["real-clouds", "triplets", "do-no-harm", "virginia-unseen"]
    summary = json.loads((work / "eval" / "real-clouds" / "dsen2cr-aug-opt-all-s0" / "summary.json").read_text())
    assert summary["mean"]["images"] == 25

    report = write_results(TINY_REAL, work, tmp_path / "docs" / "results-real.md", "python jobs/experiments.py")
    text = report.read_text()
    for expected in ("## Real clouds, optical-only input (25 pairs)", "| DSen2-CR + rot/flip | 1 |",
                     "| EquiCR p4m | 1 |", "The network alone", "## Who wins",
                     "- Real clouds, SAM (degrees), network alone: ", "Best single run on the real clouds",
                     "vs own input, network alone", "unseen Virginia land, written", "group p4m",
                     "real_clouds_1.png"):  # fmt: skip
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


def _write_summaries(work, target, values: dict[str, tuple[float, float]]):
    """summary.json of each run on ``target``: (written PSNR, network-alone PSNR)."""
    for run, (written, raw) in values.items():
        folder = evaluation_folder(work, target, run)
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"mean": {"psnr": written, "sam": 40 - written},
                                                         "raw_mean": {"psnr": raw, "sam": 40 - raw},
                                                         "cover_bins": []}))  # fmt: skip


def test_who_wins_names_the_best_mean_and_calls_a_gap_within_the_seed_spread_no_win(tmp_path):
    headline = {"A": ["a0", "a1", "a2"], "B": ["b0", "b1", "b2"]}
    _write_summaries(tmp_path, "real-clouds", {"a0": (22.0, 20.0), "a1": (22.1, 21.0), "a2": (21.9, 22.0),
                                               "b0": (20.0, 21.5), "b1": (20.1, 21.6), "b2": (19.9, 21.4)})  # fmt: skip
    clear = _who_wins(tmp_path, headline, "real-clouds", "psnr", WRITTEN)
    assert clear.startswith("A (22.00 ± 0.10) ahead of B (20.00 ± 0.10) by 2.00") and "a clear win" in clear
    # the network alone: B's 21.50 beats A's 21.00, but A's seeds spread by 1.00
    close = _who_wins(tmp_path, headline, "real-clouds", "psnr", NETWORK_ALONE)
    assert close.startswith("B (21.50 ± 0.10) ahead of A (21.00 ± 1.00) by 0.50") and "no clear winner" in close
    lower_is_better = _who_wins(tmp_path, headline, "real-clouds", "sam", WRITTEN)
    assert lower_is_better.startswith("A (18.00 ± 0.10) ahead of B")
    assert (
        _who_wins(tmp_path, {"A": headline["A"]}, "real-clouds", "psnr", WRITTEN) == "one arm only: nothing to compare"
    )
