"""jobs/train.py's flags turn into the right training config (equicr.training.arguments)."""

import argparse

import pytest

from equicr.models import build_model, count_parameters
from equicr.training.arguments import add_training_arguments, config_from_args


def config_for(*argv):
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults_are_the_demo_preset():
    config = config_for()
    assert config.model.architecture == "equicr" and config.model.width == 6 and config.data is None


def test_switching_architecture_keeps_the_parameter_budget():
    equicr, dsen2cr = config_for().model, config_for("--architecture", "dsen2cr", "--input-mode", "opt").model
    assert dsen2cr.architecture == "dsen2cr" and dsen2cr.group == "trivial" and dsen2cr.input_mode == "opt"
    counts = [count_parameters(build_model(c, initialize=False)) for c in (equicr, dsen2cr)]
    assert abs(counts[0] - counts[1]) / counts[0] < 0.1, counts


def test_switching_architecture_accepts_a_group_of_the_new_architecture():
    """--architecture dsen2cr --group trivial: the group belongs to DSen2-CR, not to the preset's EquiCR."""
    model = config_for("--architecture", "dsen2cr", "--width", "19", "--group", "trivial").model
    assert (model.architecture, model.width, model.group) == ("dsen2cr", 19, "trivial")


def test_paper_preset_with_overrides():
    config = config_for("--preset", "paper", "--epochs", "2", "--storage", "s3://bucket/runs", "--subset-size", "1000")
    assert config.model.width == 156 and config.num_workers == 4 and config.use_gpu and config.batch_size == 8
    assert config.epochs == 2 and config.storage_path == "s3://bucket/runs" and config.subset_size == 1000
    assert config.worker_batch_size == 2


def test_group_and_precision_choices_come_from_the_model_vocabulary(capsys):
    from equicr.models import GROUPS, PRECISIONS

    assert config_for("--group", "p4m", "--precision", "bf16").model.group == "p4m"
    for flag, value in (("--group", "c8"), ("--precision", "fp16")):
        with pytest.raises(SystemExit):
            config_for(flag, value)
        assert "invalid choice" in capsys.readouterr().err
    assert set(GROUPS["equicr"]) | set(GROUPS["dsen2cr"]) == {"p4", "p4m", "trivial"} and "bf16" in PRECISIONS


def test_help_shows_what_each_preset_sets():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "residual blocks (demo: 3; paper: 16)" in text
    assert "--epochs EPOCHS (demo: 15; paper: 30)" in text
    assert "--input-mode {sar+opt,opt,sar} (demo: opt; paper: sar+opt)" in text
