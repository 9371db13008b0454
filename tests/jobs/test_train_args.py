"""jobs/train.py's flags turn into the right training config."""

import importlib.util

from equicr.models import build_model, count_parameters
from equicr.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("train_job", REPO_ROOT / "jobs" / "train.py")
train_job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_job)


def config_for(*argv):
    return train_job.config_from_args(train_job.parse_args(list(argv)))


def test_defaults_are_the_demo_preset():
    config = config_for()
    assert config.model.architecture == "equicr" and config.model.width == 6 and config.data is None


def test_switching_architecture_keeps_the_parameter_budget():
    equicr, dsen2cr = config_for().model, config_for("--architecture", "dsen2cr", "--input-mode", "opt").model
    assert dsen2cr.architecture == "dsen2cr" and dsen2cr.group == "trivial" and dsen2cr.input_mode == "opt"
    counts = [count_parameters(build_model(c, initialize=False)) for c in (equicr, dsen2cr)]
    assert abs(counts[0] - counts[1]) / counts[0] < 0.1, counts


def test_paper_preset_with_overrides():
    config = config_for("--preset", "paper", "--epochs", "2", "--storage", "s3://bucket/runs", "--subset-size", "1000")
    assert config.model.width == 156 and config.num_workers == 4 and config.use_gpu and config.batch_size == 8
    assert config.epochs == 2 and config.storage_path == "s3://bucket/runs" and config.subset_size == 1000
    assert config.worker_batch_size == 2
