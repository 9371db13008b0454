"""Checkpoints: round trip, config mismatch refusal, optimizer state, and no arbitrary pickle."""

import pytest
import torch

from equicr.checkpoint import CheckpointMismatchError, load_model, load_weights, read_checkpoint, save_checkpoint
from equicr.models import ModelConfig, build_model


@pytest.mark.parametrize("architecture", ["equicr", "dsen2cr"])
def test_loaded_model_gives_the_saved_models_outputs(tmp_path, architecture):
    config = ModelConfig(architecture, width=3, num_blocks=2)
    model = build_model(config, identity_start=False).eval()  # saved from eval mode, with escnn's filter cache filled
    x = torch.rand(1, 15, 12, 12)
    with torch.no_grad():
        expected = model(x)
    path = save_checkpoint(tmp_path / "model.pt", model, config, epoch=3, metrics={"psnr": 30.5})
    loaded, checkpoint = load_model(path)
    assert not loaded.training
    assert checkpoint.metadata == {"epoch": 3, "metrics": {"psnr": 30.5}}
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


def test_loading_into_an_eval_mode_model_does_not_leave_stale_filters(tmp_path):
    """escnn caches expanded filters in eval mode; load_weights must not keep the old cache."""
    config = ModelConfig(width=3, num_blocks=1)
    source = build_model(config, identity_start=False).eval()
    path = save_checkpoint(tmp_path / "model.pt", source, config)
    target = build_model(config, identity_start=False).eval()  # different weights, cache already filled
    load_weights(target, read_checkpoint(path).weights)
    target.eval()
    x = torch.rand(1, 15, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def test_optimizer_state_round_trips(tmp_path):
    config = ModelConfig(width=2, num_blocks=1)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    model(torch.rand(1, 15, 8, 8)).abs().mean().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "model.pt", model, config, optimizer=optimizer)
    restored = torch.optim.Adam(build_model(config, initialize=False).parameters(), lr=1.0)
    restored.load_state_dict(read_checkpoint(path).optimizer_state)
    assert restored.param_groups[0]["lr"] == 3e-4
    saved_state = optimizer.state_dict()["state"][0]["exp_avg"]
    torch.testing.assert_close(restored.state_dict()["state"][0]["exp_avg"], saved_state)


def test_config_mismatch_is_refused_naming_the_difference(tmp_path):
    config = ModelConfig(width=2, num_blocks=1)
    path = save_checkpoint(tmp_path / "model.pt", build_model(config), config)
    expected = ModelConfig(width=2, num_blocks=1, input_mode="opt")
    with pytest.raises(CheckpointMismatchError, match="input_mode: checkpoint has 'sar\\+opt', expected 'opt'"):
        load_model(path, expected_config=expected)


def test_weights_of_another_shape_are_refused_by_name(tmp_path):
    small, wide = ModelConfig("dsen2cr", width=2, num_blocks=1), ModelConfig("dsen2cr", width=3, num_blocks=1)
    path = save_checkpoint(tmp_path / "model.pt", build_model(small), small)
    with pytest.raises(CheckpointMismatchError, match=r"head\.0\.weight has shape \(2, 15, 3, 3\)"):
        load_weights(build_model(wide), read_checkpoint(path).weights, source=str(path))


def test_foreign_and_pickled_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointMismatchError, match="not an EquiCR checkpoint"):
        read_checkpoint(foreign)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "equicr-checkpoint", "payload": ValueError("arbitrary object")}, pickled)
    with pytest.raises(CheckpointMismatchError, match="not a readable checkpoint"):
        read_checkpoint(pickled)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        read_checkpoint(tmp_path / "missing.pt")


def test_save_leaves_no_temporary_file(tmp_path):
    config = ModelConfig("dsen2cr", width=2, num_blocks=1)
    save_checkpoint(tmp_path / "run" / "model.pt", build_model(config), config)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["model.pt"]


def test_a_checkpoint_file_resolves_to_itself_and_a_plain_folder_is_refused(tmp_path):
    """Run folders resolve through Ray Train's record (tests/training); a folder without one is not a run."""
    from equicr.checkpoint import resolve_checkpoint

    config = ModelConfig("dsen2cr", width=2, num_blocks=1)
    save_checkpoint(tmp_path / "checkpoint_a" / "model.pt", build_model(config), config)
    assert resolve_checkpoint(f"file://{tmp_path}/checkpoint_a/model.pt") == f"{tmp_path}/checkpoint_a/model.pt"
    with pytest.raises(FileNotFoundError, match="not a Ray Train run"):
        resolve_checkpoint(tmp_path / "checkpoint_a")
    with pytest.raises(FileNotFoundError, match="neither a checkpoint file nor a Ray Train run folder"):
        resolve_checkpoint(tmp_path / "missing")


def test_config_is_read_without_the_tensors(tmp_path):
    from equicr.checkpoint import read_checkpoint_config

    config = ModelConfig("dsen2cr", width=3, num_blocks=1, input_mode="opt")
    path = save_checkpoint(tmp_path / "model.pt", build_model(config), config)
    assert read_checkpoint_config(path) == config
