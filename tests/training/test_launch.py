"""Training: the epoch helpers, the per-worker loop in-process, DDP on a local Ray, resume, fault tolerance."""

import json
import threading
import time

import pytest
import torch
from torch.utils.data import DataLoader

from equicr.checkpoint import best_checkpoint_file, load_model, resolve_checkpoint
from equicr.data.dataset import PatchDataset
from equicr.ingest.simulated import write_synthetic_patches
from equicr.models import ModelConfig, build_model
from equicr.training.config import TrainConfig
from equicr.training.launch import run_training, save_validation_panels
from equicr.training.loop import HISTORY_FILE, evaluate, train_one_epoch

TINY_MODEL = ModelConfig("equicr", width=2, num_blocks=1)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return str(write_synthetic_patches(tmp_path_factory.mktemp("train") / "p.zarr", count=40, size=24, seed=2))


def tiny_config(collection, storage, **overrides) -> TrainConfig:
    values = dict(
        model=TINY_MODEL, data=collection, epochs=3, batch_size=8, learning_rate=3e-3, num_workers=1,
        run_name="tiny", storage_path=str(storage), max_failures=0,
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def read_history(storage, run_name="tiny"):
    return json.loads((storage / run_name / HISTORY_FILE).read_text())


def test_epoch_helpers_reduce_the_l1_loss(collection):
    model = build_model(TINY_MODEL)
    loader = DataLoader(PatchDataset(collection, "train"), batch_size=8, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = [train_one_epoch(model, loader, optimizer, torch.device("cpu")) for _ in range(3)]
    assert losses[0]["samples"] == 32
    assert losses[-1]["loss_sum"] < losses[0]["loss_sum"]
    sums = evaluate(model, DataLoader(PatchDataset(collection, "val"), batch_size=4), torch.device("cpu"))
    assert sums["count"] == 4 and all(sums[m] == sums[m] for m in ("psnr", "mae", "ssim", "sam"))
    assert model.training, "evaluate must hand the model back in train mode"


def test_bf16_step_runs_and_learns(collection):
    model = build_model(TINY_MODEL)
    loader = DataLoader(PatchDataset(collection, "train"), batch_size=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = [train_one_epoch(model, loader, optimizer, torch.device("cpu"), "bf16")["loss_sum"] for _ in range(3)]
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_loop_in_process_reports_and_writes_history(collection, tmp_path, local_ray):
    config = tiny_config(collection, tmp_path, num_workers=0, epochs=2)  # Ray Train local mode: this process
    result = run_training(config)
    history = read_history(tmp_path)
    assert [h["epoch"] for h in history] == [0, 1]
    assert {"train_loss", "val_psnr", "val_mae", "val_ssim", "val_sam", "samples_per_second"} <= set(history[0])
    assert result.metrics["epoch"] == 1 and result.metrics["val_psnr"] == history[-1]["val_psnr"]


@pytest.mark.slow
def test_two_worker_ddp_loss_falls(collection, tmp_path, local_ray, monkeypatch):
    # Data and storage given as URIs, as on object storage (file:// goes through the same fsspec/pyarrow paths).
    config = tiny_config(f"file://{collection}", f"file://{tmp_path}", num_workers=2, epochs=3)
    result = run_training(config)
    assert result.error is None
    history = read_history(tmp_path)
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    best = best_checkpoint_file(result)
    assert best.startswith(f"{tmp_path}/")  # one spelling: file:// storage gives plain paths
    assert resolve_checkpoint(f"file://{tmp_path}/tiny") == best  # a run folder resolves through Ray's record
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint("tiny") == best  # and so does a relative path, as the README's commands give it
    model, checkpoint = load_model(best, expected_config=TINY_MODEL)
    assert checkpoint.metadata["metrics"]["val_psnr"] == max(h["val_psnr"] for h in history)
    assert checkpoint.optimizer_state is not None and not model.training
    panels = save_validation_panels(best, collection, tmp_path / "samples.png")
    assert panels.stat().st_size > 10_000


@pytest.mark.slow
def test_rerun_resumes_from_the_latest_checkpoint(collection, tmp_path, local_ray):
    run_training(tiny_config(collection, tmp_path, epochs=2))
    first = read_history(tmp_path)
    run_training(tiny_config(collection, tmp_path, epochs=4))  # the same run, asked to go further
    resumed = read_history(tmp_path)
    assert [h["epoch"] for h in resumed] == [0, 1, 2, 3]
    assert resumed[:2] == first  # epochs 0 and 1 were not trained again
    # Resuming with another learning rate or batch size would keep the old optimizer: refused before any work.
    for change in ({"learning_rate": 1e-2}, {"batch_size": 4}):
        with pytest.raises(ValueError, match=f"{next(iter(change))}: .* then, .* now"):
            run_training(tiny_config(collection, tmp_path, epochs=5, **change))
    assert read_history(tmp_path) == resumed


@pytest.mark.slow
def test_a_resumed_augmented_run_equals_an_uninterrupted_one(collection, tmp_path, local_ray):
    """Random rotations and flips come from torch's generator: the checkpoint carries its state."""
    run_training(tiny_config(collection, tmp_path / "whole", epochs=3, augment=True))
    run_training(tiny_config(collection, tmp_path / "resumed", epochs=2, augment=True))
    run_training(tiny_config(collection, tmp_path / "resumed", epochs=3, augment=True))
    whole, resumed = read_history(tmp_path / "whole"), read_history(tmp_path / "resumed")
    drop = {"samples_per_second"}
    assert [{k: v for k, v in h.items() if k not in drop} for h in resumed] == [
        {k: v for k, v in h.items() if k not in drop} for h in whole
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"subset_size": 0}, "subset_size must be at least 1"), ({"subset_size": -3}, "subset_size must be at least 1"),
     ({"epochs": 0}, "epochs must be at least 1"), ({"learning_rate": 0.0}, "learning_rate must be positive")],
)  # fmt: skip
def test_settings_without_a_meaning_are_refused(collection, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(collection, tmp_path, **change)


def test_what_no_retry_can_fix_is_refused_before_training(tmp_path):
    from equicr.training.launch import preflight

    no_val = write_synthetic_patches(tmp_path / "no-val.zarr", count=6, size=24, seed=1, split_fractions=(1.0, 0.0))
    with pytest.raises(ValueError, match="no complete val patches"):
        preflight(tiny_config(str(no_val), tmp_path))
    data = write_synthetic_patches(tmp_path / "p.zarr", count=10, size=24, seed=1)
    with pytest.raises(ValueError, match="asked for 50 train patches, the collection has 8"):
        preflight(tiny_config(str(data), tmp_path, subset_size=50))
    preflight(tiny_config(str(data), tmp_path, subset_size=8))  # a new run that fits: nothing to refuse
    ray_copy = tmp_path / "session_1" / "runtime_resources" / "working_dir_files" / "_ray_pkg_1" / "runs"
    with pytest.raises(ValueError, match="lies in Ray's temporary copy of the job's working directory"):
        preflight(tiny_config(str(data), ray_copy))  # `ray job submit --working-dir .` without --storage


@pytest.mark.slow
def test_killed_worker_is_replaced_and_the_run_completes(collection, tmp_path, local_ray):
    import psutil

    killed = []

    def kill_a_worker_after_the_first_epoch():
        deadline = time.time() + 120
        while time.time() < deadline and not (tmp_path / "tiny" / HISTORY_FILE).exists():
            time.sleep(0.2)
        # Only this test session's Ray processes: they all descend from this process.
        workers = [
            p for p in psutil.Process().children(recursive=True)
            if p.is_running() and " ".join(p.cmdline()).startswith("ray::RayTrainWorker")
        ]  # fmt: skip
        if workers:
            workers[-1].kill()
            killed.append(workers[-1].pid)

    killer = threading.Thread(target=kill_a_worker_after_the_first_epoch)
    killer.start()
    result = run_training(tiny_config(collection, tmp_path, num_workers=2, epochs=4, max_failures=2))
    killer.join()
    assert killed, "no worker was found to kill"
    assert result.error is None
    assert read_history(tmp_path)[-1]["epoch"] == 3


def test_progress_within_an_epoch(collection, capsys):
    """A long epoch prints progress lines between the per-epoch lines (here every step: interval 0)."""
    from torch.utils.data import DataLoader

    from equicr.training.loop import StepProgress

    model = build_model(TINY_MODEL)
    loader = DataLoader(PatchDataset(collection, "train", TINY_MODEL.input_mode), batch_size=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    progress = StepProgress(epoch=2, epochs=5, steps=len(loader), every_seconds=0.0)
    train_one_epoch(model, loader, optimizer, torch.device("cpu"), progress=progress)
    lines = capsys.readouterr().out.splitlines()
    # Every step but the last (the epoch line follows it) reports, numbered within the epoch.
    assert [line.split()[3] for line in lines] == [f"{step}/{len(loader)}" for step in range(1, len(loader))]
    assert all(line.startswith("epoch 3/5  step ") and "samples/s" in line for line in lines)


def test_the_default_data_is_real_ground_composites_with_a_synthetic_fallback(tmp_path, monkeypatch):
    import importlib.util

    from equicr.data.collection import open_collection
    from equicr.training import launch

    monkeypatch.setattr(launch, "DEFAULT_DATA_PATCHES", 10)
    monkeypatch.setattr(launch, "DEFAULT_DATA_SIZE", 16)
    made = launch.ensure_default_data(tmp_path / "default.zarr")
    group = open_collection(made, "patches")
    assert group["complete"][:].all() and "composite" in group.attrs
    assert list(group["split"][:]).count("val") == 1

    monkeypatch.setattr(launch, "DEFAULT_SYNTHETIC_DATA", tmp_path / "synthetic.zarr")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: None if name == "satellite_cloud_generator" else real_find_spec(name))  # fmt: skip
    fallback = launch.ensure_default_data(tmp_path / "unused.zarr")
    assert fallback == str(tmp_path / "synthetic.zarr") and not (tmp_path / "unused.zarr").exists()
