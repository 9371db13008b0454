"""Object storage for real: ingest, train, evaluate and decloud with every location an ``s3://`` URI.

The server is moto's S3 server on loopback (the ``s3_bucket`` fixture); zarr reaches it through
s3fs, Ray Train and the history file through pyarrow, checkpoints and ONNX files are copied to the
local cache before they are opened.
"""

import json
import subprocess
import sys

import fsspec
import numpy as np
import pytest
import rasterio

from equicr.checkpoint import best_checkpoint_file, load_model
from equicr.data.collection import open_collection
from equicr.decloud.geotiff import export_cog
from equicr.decloud.output import OUTPUT_ARRAY
from equicr.decloud.pipeline import decloud_whole_image, run_decloud
from equicr.decloud.settings import DecloudSettings
from equicr.evaluation.scoring import evaluate_split
from equicr.executors import ActorPool
from equicr.ingest.geotiffs import ingest_sen12mscr
from equicr.ingest.simulated import write_synthetic_patches, write_synthetic_scenes
from equicr.models import ModelConfig
from equicr.storage import local_path
from equicr.training.config import TrainConfig
from equicr.training.launch import run_training
from equicr.training.loop import HISTORY_FILE
from tests.fixtures.paths import REPO_ROOT


def test_local_path_copies_remote_files_and_names_missing_ones(s3_bucket, tmp_path):
    filesystem = fsspec.filesystem("s3")
    filesystem.pipe(f"{s3_bucket}/cache-test/run/checkpoint_1/model.pt", b"weights")
    filesystem.pipe(f"{s3_bucket}/cache-test/run/history.json", b"[]")
    copy = local_path(f"{s3_bucket}/cache-test/run/checkpoint_1/model.pt")
    assert copy.read_bytes() == b"weights"
    folder = local_path(f"{s3_bucket}/cache-test/run")
    assert (folder / "checkpoint_1" / "model.pt").read_bytes() == b"weights" and (folder / "history.json").is_file()
    assert local_path(f"file://{tmp_path}") == tmp_path
    with pytest.raises(FileNotFoundError, match="cache-test/nothing.pt does not exist"):
        local_path(f"{s3_bucket}/cache-test/nothing.pt")


@pytest.mark.slow
def test_ingest_train_evaluate_and_decloud_on_object_storage(s3_bucket, mini_dir, local_ray, tmp_path):
    root = f"{s3_bucket}/end-to-end"
    # Ingest: a real SEN12MS-CR tree into a collection on S3, then a resumed rerun writes nothing.
    real = f"{root}/real.zarr"
    assert ingest_sen12mscr(mini_dir, real, progress=False).written == 2
    assert ingest_sen12mscr(mini_dir, real, progress=False).already_complete == 2
    assert open_collection(real, "patches")["complete"][:].all()

    # Train: data and Ray Train storage on S3; the history and the checkpoints land there.
    data = write_synthetic_patches(f"{root}/patches.zarr", count=20, size=24, seed=8)
    model = ModelConfig(width=2, num_blocks=1)
    config = TrainConfig(model=model, data=data, epochs=2, batch_size=4, cpus_per_worker=1, max_failures=0,
                         run_name="s3-run", storage_path=f"{root}/runs")  # fmt: skip
    result = run_training(config)
    assert result.error is None
    history = json.loads(fsspec.open(f"{root}/runs/s3-run/{HISTORY_FILE}").open().read())
    assert [entry["epoch"] for entry in history] == [0, 1]
    best = best_checkpoint_file(result)
    assert best.startswith(f"{root}/runs/s3-run/checkpoint_")
    _, checkpoint = load_model(best, expected_config=model)
    assert checkpoint.metadata["metrics"]["val_psnr"] == max(entry["val_psnr"] for entry in history)

    # Evaluate: the checkpoint and the collection on S3, on Ray Data actors and in this process alike.
    on_ray = evaluate_split(best, data, "test", pool=ActorPool(), progress=False)
    in_process = evaluate_split(best, data, "test", pool=ActorPool(use_ray=False), progress=False)
    assert len(on_ray) == 2 and on_ray == in_process

    # Export: checkpoint from S3, verified ONNX file and its report uploaded to S3.
    onnx_file = f"{root}/models/tiny.onnx"
    command = [sys.executable, "export/to_onnx.py", "--checkpoint", best, "--out", onnx_file, "--skip-real-patches"]
    exported = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stdout[-2000:] + exported.stderr[-2000:]
    assert fsspec.filesystem("s3").exists(f"{root}/models/tiny.verification.json")

    # Decloud with the ONNX file on S3: scenes on S3, output written into the same store, a local COG from it.
    # The model URI carries credentials (the loopback server's): they work, and no record keeps them.
    scenes = write_synthetic_scenes(f"{root}/scenes.zarr", [(40, 52)], seed=9)
    with_credentials = onnx_file.replace("s3://", "s3://testing:testing@")
    summary = run_decloud(scenes, with_credentials, settings=DecloudSettings(tile_size=32), progress=False)
    assert summary.scenes_done == ["scene_0"] and summary.units_processed == 4
    collection = open_collection(scenes, "scenes")
    scene = collection["scenes"]["scene_0"]
    for record in (dict(collection.attrs), dict(scene.attrs)):
        assert "testing:testing" not in json.dumps(record) and onnx_file in json.dumps(record)
    whole = decloud_whole_image(best, scene["s1"][:], scene["s2_cloudy"][:])
    # ONNX Runtime against the PyTorch checkpoint: equal up to rounding to whole DN.
    assert np.abs(scene[OUTPUT_ARRAY][:].astype(np.int32) - whole.astype(np.int32)).max() <= 1
    cog = export_cog(scenes, "scene_0", tmp_path / "scene_0.tif")
    with rasterio.open(cog) as dataset:
        assert dataset.count == 13 and dataset.crs is not None
