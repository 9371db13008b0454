"""The experiment runner: a tiny preset end to end (train, evaluate, report), resume, and the presets' scale."""

import json

import pytest

from equicr.experiments.presets import PRESETS, ExperimentPreset, ExperimentRun, SyntheticData
from equicr.experiments.results import BASELINE_ROW, SYNTHETIC_LABEL, write_results
from equicr.experiments.runner import REAL, TEST, run_experiments, train_config
from equicr.models import ModelConfig, build_model, count_parameters, equal_parameter_config
from equicr.training.config import TrainConfig
from tests.fixtures.paths import SHARED_DATA_DIR

TINY = ExperimentPreset(
    name="tiny",
    description="test preset",
    models=(ModelConfig("equicr", width=2, num_blocks=1), ModelConfig("dsen2cr", width=3, num_blocks=1)),
    training=TrainConfig(epochs=1, batch_size=4, learning_rate=1e-3, cpus_per_worker=1, max_failures=0),
    subset_sizes=(4,),
    data=SyntheticData(count=30, size=24, seed=3, split_fractions=(0.6, 0.2)),
    input_modes=("sar+opt",),  # Table I with one column keeps the test to 4 training runs
)


def test_runs_cover_both_tables_once():
    names = [run.name for run in PRESETS["cpu"].runs()]
    assert len(names) == len(set(names)) == 2 * 3 + 2 * 2
    assert "equicr-sar+opt-all" in names and "dsen2cr-sar+opt-12" in names and "dsen2cr-sar-all" in names


@pytest.mark.parametrize("preset", ["cpu", "paper"])
def test_presets_compare_the_architectures_at_equal_parameter_counts(preset):
    equicr, dsen2cr = PRESETS[preset].models
    counts = [count_parameters(build_model(m, initialize=False)) for m in (equicr, dsen2cr)]
    assert abs(counts[0] - counts[1]) / counts[0] < 0.02, counts
    if preset == "cpu":  # the width the equal-parameter search picks
        assert equal_parameter_config(equicr, "dsen2cr").width == dsen2cr.width


def test_subsets_train_for_as_many_steps_as_the_full_set():
    full = train_config(TINY, ExperimentRun("equicr", "sar+opt", None), "data.zarr", "runs", train_size=18)
    small = train_config(TINY, ExperimentRun("equicr", "sar+opt", 4), "data.zarr", "runs", train_size=18)
    assert full.subset_size is None and full.min_samples_per_epoch is None
    assert small.subset_size == 4 and small.min_samples_per_epoch == 18 and small.run_name == "tiny-equicr-sar+opt-4"


@pytest.mark.slow
def test_tiny_preset_end_to_end_and_resume(tmp_path, local_ray, capsys):
    work = tmp_path / "work"
    manifest = run_experiments(TINY, work, real_data=SHARED_DATA_DIR)
    assert set(manifest["runs"]) == {run.name for run in TINY.runs()}
    assert set(manifest["targets"]) == {TEST, REAL}
    test_summary = json.loads((work / "eval" / TEST / "equicr-sar+opt-all" / "summary.json").read_text())
    assert test_summary["mean"]["images"] == 6
    real_summary = json.loads((work / "eval" / REAL / "dsen2cr-sar+opt-4" / "summary.json").read_text())
    assert real_summary["mean"]["images"] == 12  # 2 georeferenced + 10 loose real triplets

    report = write_results(TINY, work, tmp_path / "docs" / "results.md", "python jobs/experiments.py")
    text = report.read_text()
    assert text.splitlines()[2] == SYNTHETIC_LABEL  # a synthetic report says so first
    for expected in ("### Table I", "### Table II", "| model | sar+opt |", "| model | 4 | all (18) |",
                     f"| {BASELINE_ROW} |", "## Test split of the experiment's data (6 patches)",
                     "## Real SEN12MS-CR patches (the real-data folder: 12 patches",
                     "EquiCR minus DSen2-CR"):  # fmt: skip
        assert expected in text, expected
    baseline_psnr = json.loads((work / "eval" / TEST / "cloudy-input" / "summary.json").read_text())["mean"]["psnr"]
    assert f"| {BASELINE_ROW} | {baseline_psnr:.4f} | {baseline_psnr:.4f} |" in text  # Table II: 4, all
    for figure in ("test_cover_bins.png", "test_samples.png", "real_cover_bins.png", "real_samples.png"):
        assert (tmp_path / "docs" / "results" / figure).stat().st_size > 5_000
        assert f"results/{figure}" in text

    capsys.readouterr()
    again = run_experiments(TINY, work, real_data=SHARED_DATA_DIR)
    assert again["runs"] == manifest["runs"]
    assert capsys.readouterr().out.count("done already") == len(TINY.runs())


def test_paper_preset_needs_data(tmp_path):
    with pytest.raises(ValueError, match="needs --data"):
        run_experiments(PRESETS["paper"], tmp_path)


def test_min_samples_per_epoch_repeats_a_small_subset(tmp_path):
    from equicr.data.dataset import PatchDataset
    from equicr.ingest.simulated import write_synthetic_patches
    from equicr.training.loop import repeated

    collection = write_synthetic_patches(tmp_path / "p.zarr", count=10, size=16, seed=1)
    subset = PatchDataset(collection, "train", subset_size=3)
    assert len(repeated(subset, 8)) == 9 and len(repeated(subset, None)) == 3 and len(repeated(subset, 2)) == 3
