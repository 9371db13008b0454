"""Declouding scenes collections: tiling exactness, backends, resumability, bad scenes, COG export, real data."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import rasterio
import torch
import zarr

from equicr.checkpoint import save_checkpoint
from equicr.data.clouds import image_clouds
from equicr.data.collection import open_collection
from equicr.data.sen12mscr import index_tree
from equicr.data.synthetic import make_scene
from equicr.decloud.geotiff import export_cog
from equicr.decloud.output import DONE_ARRAY, OUTPUT_ARRAY, PROBABILITY_ARRAY, DecloudError
from equicr.decloud.pipeline import decloud_whole_image, run_decloud
from equicr.decloud.settings import DecloudSettings
from equicr.deploy.gate import export_and_publish
from equicr.executors import ActorPool
from equicr.ingest.geotiffs import ingest_scenes
from equicr.ingest.scenes import create_scenes, write_scene
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.models import ModelConfig, build_model
from equicr.postprocessing import POSTPROCESSING, combine, needs_clouds, network_weight
from equicr.scaling import OPTICAL_MEASURED_MIN_DN, SAR_FILL_DB, optical_valid_mask
from tests.fixtures.paths import REPO_ROOT

IN_PROCESS = ActorPool(use_ray=False)

#: Tiled and whole-image outputs may differ by one DN where float round-off crosses a rounding boundary.
MAX_DN_DIFFERENCE = 1
MAX_DIFFERING_FRACTION = 1e-3


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = ModelConfig(width=2, num_blocks=2)
    return save_checkpoint(
        tmp_path_factory.mktemp("model") / "model.pt", build_model(config, identity_start=False), config
    )


@pytest.fixture
def scenes(tmp_path):
    return write_synthetic_scenes(tmp_path / "scenes.zarr", [(70, 93), (41, 40)], seed=1)


def decloud_here(collection, model, tile_size, halo=None, scenes=None, overwrite=False, **settings):
    """``run_decloud`` in this process, quietly, with the settings that matter to a test."""
    settings = {"precision": "fp32", **settings}  # the float32 whole-image reference is what tiles are compared with
    return run_decloud(collection, model, DecloudSettings(tile_size, halo, **settings), scenes, IN_PROCESS, overwrite,
                       progress=False)  # fmt: skip


def scene_arrays(path, name):
    return open_collection(path, "scenes")["scenes"][name]


def compare(a, b):
    difference = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return int(difference.max()), float((difference > 0).mean())


def test_tiled_output_equals_whole_image_inference(scenes, checkpoint):
    summary = decloud_here(scenes, checkpoint, tile_size=32)
    assert summary.scenes_done == ["scene_0", "scene_1"] and summary.units_processed == 9 + 4
    for name in summary.scenes_done:
        scene = scene_arrays(scenes, name)
        whole = decloud_whole_image(checkpoint, scene["s1"][:], scene["s2_cloudy"][:])
        worst, fraction = compare(scene[OUTPUT_ARRAY][:], whole)
        assert worst <= MAX_DN_DIFFERENCE and fraction < MAX_DIFFERING_FRACTION
        record = scene.attrs["decloud"]
        assert record["complete"] and record["halo"] == 6 and record["model_config"]["width"] == 2


def test_a_dark_prediction_is_never_written_as_nodata(scenes, tmp_path):
    """DN 0 is the output's nodata: a model predicting below zero writes DN 1 on every valid pixel, never a hole."""
    config = ModelConfig(architecture="dsen2cr", width=2, num_blocks=1)
    model = build_model(config, identity_start=False)
    with torch.no_grad():
        model.tail.bias.fill_(-1000.0)
    dark = save_checkpoint(tmp_path / "dark.pt", model, config)
    decloud_here(scenes, dark, tile_size=32, scenes=["scene_0"], postprocessing="raw")  # the network's own DN
    scene = scene_arrays(scenes, "scene_0")
    output = scene[OUTPUT_ARRAY][:]
    valid = scene["s1_valid"][:] & scene["s2_cloudy_valid"][:]
    assert valid.any() and (output[:, valid] == OPTICAL_MEASURED_MIN_DN).all()
    np.testing.assert_array_equal(optical_valid_mask(output), valid)


def test_a_missing_input_chunk_fails_its_tiles_instead_of_declouding_zeros(tmp_path, checkpoint):
    """An s2_cloudy chunk lost by an interrupted sync read as fill: the scene came back dark and 'complete'."""
    from equicr.data.scenes import SCENE_CHUNK

    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(SCENE_CHUNK + 64, 48)], seed=3)
    (tmp_path / "scenes.zarr" / "scenes" / "scene_0" / "s2_cloudy" / "c" / "0" / "1" / "0").unlink()
    summary = decloud_here(path, checkpoint, tile_size=256)
    assert summary.scenes_done == [] and summary.units_processed == 1  # rows 0:256 read only the first chunk
    reason = summary.scenes_failed["scene_0"]
    assert "s2_cloudy: 1 chunk(s) holding tile (1, 0) of scene scene_0" in reason and "not in the store" in reason
    with pytest.raises(DecloudError, match="not completely declouded"):
        export_cog(path, "scene_0", tmp_path / "out.tif")


def test_a_halo_below_the_receptive_field_breaks_exactness(scenes, checkpoint):
    """The exactness check can fail: without a halo, tile seams differ from whole-image inference."""
    decloud_here(scenes, checkpoint, tile_size=32, halo=0, scenes=["scene_0"])
    scene = scene_arrays(scenes, "scene_0")
    worst, fraction = compare(
        scene[OUTPUT_ARRAY][:], decloud_whole_image(checkpoint, scene["s1"][:], scene["s2_cloudy"][:])
    )
    assert worst > 10 and fraction > 0.01


@pytest.mark.slow
def test_torch_and_onnx_backends_agree(scenes, checkpoint, tmp_path):
    from equicr.checkpoint import load_model

    model, loaded = load_model(checkpoint)
    onnx_file = export_and_publish(model, loaded.config, checkpoint, str(tmp_path / "m.onnx"), real_patches=False).file
    decloud_here(scenes, checkpoint, tile_size=32, scenes=["scene_1"])
    torch_output = scene_arrays(scenes, "scene_1")[OUTPUT_ARRAY][:]
    decloud_here(scenes, onnx_file, tile_size=32, scenes=["scene_1"], overwrite=True)
    worst, fraction = compare(scene_arrays(scenes, "scene_1")[OUTPUT_ARRAY][:], torch_output)
    assert worst <= MAX_DN_DIFFERENCE and fraction < MAX_DIFFERING_FRACTION


def test_other_model_output_is_not_silently_mixed(scenes, checkpoint, tmp_path):
    from equicr.decloud.output import DecloudError

    decloud_here(scenes, checkpoint, tile_size=32, scenes=["scene_1"])
    with pytest.raises(DecloudError, match="different parameters; pass --overwrite"):
        decloud_here(scenes, checkpoint, tile_size=16, scenes=["scene_1"])


def test_bad_scenes_are_isolated_with_their_reason(tmp_path, checkpoint):
    path = tmp_path / "mixed.zarr"
    collection = create_scenes(path)
    rng = np.random.default_rng(2)
    good = make_scene(rng, (40, 40))
    write_scene(collection, "good", good.s1, good.s2_cloudy, good.geo)
    with_nan = good.s1.copy()
    with_nan[0, 3, 4] = np.nan
    write_scene(collection, "nan", with_nan, good.s2_cloudy, good.geo)
    write_scene(collection, "bands", good.s1, good.s2_cloudy, good.geo)
    del collection["scenes/bands/s2_cloudy"]
    collection["scenes/bands"].create_array("s2_cloudy", shape=(12, 40, 40), dtype="uint16")
    write_scene(collection, "grid", good.s1, good.s2_cloudy, good.geo)
    del collection["scenes/grid/s1"]
    collection["scenes/grid"].create_array("s1", shape=(2, 40, 39), dtype="float32")
    summary = decloud_here(path, checkpoint, tile_size=32)
    assert summary.scenes_done == ["good", "nan"]  # a few NaN SAR pixels are no-data, filled by the one policy
    assert summary.scenes_failed == {
        "bands": "'s2_cloudy' has shape (12, 40, 40), expected (13, H, W) with bands "
        "('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12')",
        "grid": "s1 is (40, 39) px but s2_cloudy is (40, 40) px: not one grid",
    }
    for name in ("bands", "grid"):
        assert OUTPUT_ARRAY not in scene_arrays(path, name) and "decloud" not in scene_arrays(path, name).attrs
    assert sorted(open_collection(path, "scenes").attrs["last_decloud_run"]["scenes_failed"]) == ["bands", "grid"]
    filled = with_nan.copy()
    filled[0, 3, 4] = SAR_FILL_DB  # NaN and the fill value mean the same: no measurement
    worst, fraction = compare(
        scene_arrays(path, "nan")[OUTPUT_ARRAY][:], decloud_whole_image(checkpoint, filled, good.s2_cloudy)
    )
    assert worst <= MAX_DN_DIFFERENCE and fraction <= MAX_DIFFERING_FRACTION


def test_ingest_and_decloud_share_one_scene_check(tmp_path, checkpoint):
    from equicr.data.collection import CollectionError

    collection = create_scenes(tmp_path / "s.zarr")
    scene = make_scene(np.random.default_rng(3), (20, 20))
    with pytest.raises(CollectionError, match=r"scene odd: s1 is \(20, 19\) px but s2_cloudy is \(20, 20\) px"):
        write_scene(collection, "odd", scene.s1[:, :, :19], scene.s2_cloudy, scene.geo)
    with pytest.raises(CollectionError, match="scene few: 's1' has shape"):
        write_scene(collection, "few", scene.s1[:1], scene.s2_cloudy, scene.geo)


@pytest.mark.parametrize("postprocessing", POSTPROCESSING)
@pytest.mark.parametrize("resolution", [10, 60])
def test_postprocessing_is_exact_under_tiling_and_leaves_clear_ground_as_it_was(
    tmp_path, checkpoint, postprocessing, resolution
):
    """Tiles of 20 px (not a multiple of the 60 m grid) give what the whole scene gives: s2cloudless included."""
    path = tmp_path / "half.zarr"
    collection = create_scenes(path)
    scene = make_scene(np.random.default_rng(4), (70, 64), cover=0.4)
    write_scene(collection, "half", scene.s1, scene.s2_cloudy, scene.geo)
    decloud_here(path, checkpoint, tile_size=20, postprocessing=postprocessing, cloud_resolution_m=resolution)
    stored = scene_arrays(path, "half")
    output = stored[OUTPUT_ARRAY][:]
    predicted = decloud_whole_image(checkpoint, scene.s1, scene.s2_cloudy, postprocessing="raw")
    if not needs_clouds(postprocessing):
        assert PROBABILITY_ARRAY not in stored
        assert compare(output, predicted)[0] <= MAX_DN_DIFFERENCE
        return
    clouds = image_clouds(scene.s2_cloudy, resolution)  # the whole scene at once
    np.testing.assert_allclose(stored[PROBABILITY_ARRAY][:], clouds.probability[0], atol=1e-6)
    valid = np.ones(output.shape[1:], bool)
    expected = combine(predicted, scene.s2_cloudy, valid, postprocessing, clouds.probability[0], clouds.mask[0])
    assert compare(output, expected)[0] <= MAX_DN_DIFFERENCE
    weight = network_weight(postprocessing, clouds.probability[0], clouds.mask[0])
    clear = weight == 0
    assert 0.1 < clear.mean() < 0.9
    assert np.array_equal(output[:, clear], scene.s2_cloudy[:, clear])  # clear ground exactly as it was


def test_cog_export_keeps_the_georeference(scenes, checkpoint, tmp_path):
    decloud_here(scenes, checkpoint, tile_size=32, scenes=["scene_0"])
    out = export_cog(scenes, "scene_0", tmp_path / "scene_0.tif")
    scene = scene_arrays(scenes, "scene_0")
    with rasterio.open(out) as dataset:
        assert dataset.crs.to_string() == scene.attrs["crs"]
        assert tuple(dataset.transform)[:6] == tuple(scene.attrs["transform"])
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert dataset.descriptions[8] == "B8A"
        np.testing.assert_array_equal(dataset.read(), scene[OUTPUT_ARRAY][:])


def test_real_patch_keeps_its_georeference(mini_dir, tmp_path, checkpoint):
    record = index_tree(mini_dir)[0][0]
    ingest_scenes([("real", record.paths["s1"], record.paths["s2_cloudy"])], tmp_path / "real.zarr", progress=False)
    summary = decloud_here(tmp_path / "real.zarr", checkpoint, tile_size=128)
    assert summary.scenes_done == ["real"]
    out = export_cog(tmp_path / "real.zarr", "real", tmp_path / "real.tif")
    with rasterio.open(out) as declouded, rasterio.open(record.paths["s2_cloudy"]) as source:
        assert declouded.crs == source.crs and declouded.crs.to_string() == "EPSG:32650"
        assert declouded.transform == source.transform and declouded.shape == source.shape == (256, 256)
        assert declouded.count == 13 and declouded.dtypes[0] == "uint16"


@pytest.mark.slow
def test_ray_data_actor_pool_gives_the_same_output(scenes, checkpoint, tmp_path, local_ray):
    reference = tmp_path / "reference.zarr"
    shutil.copytree(scenes, reference)
    decloud_here(reference, checkpoint, tile_size=32)
    summary = run_decloud(
        scenes,
        checkpoint,
        settings=DecloudSettings(tile_size=32, batch_size=2, precision="fp32"),
        pool=ActorPool(actors=2),
        progress=False,
    )
    assert summary.scenes_done == ["scene_0", "scene_1"]
    for name in summary.scenes_done:
        assert np.array_equal(
            scene_arrays(scenes, name)[OUTPUT_ARRAY][:], scene_arrays(reference, name)[OUTPUT_ARRAY][:]
        )


@pytest.mark.slow
def test_killed_job_then_rerun_gives_identical_output(tmp_path, checkpoint):
    path = write_synthetic_scenes(tmp_path / "big.zarr", [(160, 176)], seed=3)
    reference = tmp_path / "reference.zarr"
    shutil.copytree(path, reference)
    decloud_here(reference, checkpoint, tile_size=16)

    command = [sys.executable, "jobs/decloud.py", "--collection", str(path), "--model", str(checkpoint),
               "--tile-size", "16", "--batch-size", "1", "--precision", "fp32"]  # fmt: skip  # as the reference
    ray_folder = tempfile.mkdtemp(prefix="rd", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")}, "RAY_TMPDIR": ray_folder}
    job = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    markers = path / "scenes" / "scene_0" / DONE_ARRAY / "c"
    deadline = time.time() + 180
    while time.time() < deadline and (not markers.exists() or sum(p.is_file() for p in markers.rglob("*")) < 20):
        assert job.poll() is None, "the job ended before it could be killed"
        time.sleep(0.1)
    os.killpg(job.pid, signal.SIGKILL)  # the driver and everything it started
    job.wait()
    done = zarr.open_group(str(path), mode="r")["scenes/scene_0"][DONE_ARRAY][:]
    assert 0 < done.sum() < done.size, "the kill should land mid-run"
    assert not scene_arrays(path, "scene_0").attrs["decloud"]["complete"]

    rerun = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "already done" in rerun.stdout
    assert np.array_equal(
        scene_arrays(path, "scene_0")[OUTPUT_ARRAY][:], scene_arrays(reference, "scene_0")[OUTPUT_ARRAY][:]
    )
    assert scene_arrays(path, "scene_0").attrs["decloud"]["complete"]
    shutil.rmtree(ray_folder, ignore_errors=True)


def test_only_completely_ingested_scenes_are_declouded(tmp_path, checkpoint):
    path = write_synthetic_scenes(tmp_path / "s.zarr", [(24, 24), (24, 24)], seed=5)
    # As an ingest killed mid-scene leaves it:
    open_collection(path, "scenes", mode="r+")["scenes"]["scene_1"].attrs["complete"] = False
    with pytest.raises(DecloudError, match=r"scenes \['scene_1'\] .* never completely ingested"):
        decloud_here(path, checkpoint, tile_size=16, scenes=["scene_1"])
    assert OUTPUT_ARRAY not in scene_arrays(path, "scene_1")
    summary = decloud_here(path, checkpoint, tile_size=16)
    assert summary.scenes_done == ["scene_0"]
    assert "ingest never finished" in summary.scenes_failed["scene_1"]  # reported, not skipped in silence
    assert OUTPUT_ARRAY not in scene_arrays(path, "scene_1")


@pytest.mark.slow
def test_a_second_job_on_a_scene_being_declouded_is_refused_not_mixed(tmp_path, checkpoint):
    """A second job with --overwrite once recreated the arrays under a running job: two models' tiles, one record."""
    from equicr.lease import lease_location

    other = ModelConfig(width=2, num_blocks=1)
    other_checkpoint = save_checkpoint(tmp_path / "other.pt", build_model(other, identity_start=False), other)
    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(160, 176)], seed=3)
    references = {}
    for name, model in (("first", checkpoint), ("second", other_checkpoint)):
        references[name] = tmp_path / f"{name}.zarr"
        shutil.copytree(path, references[name])
        decloud_here(references[name], model, tile_size=16)

    def command(model, *extra):
        return [sys.executable, "jobs/decloud.py", "--collection", str(path), "--model", str(model), "--tile-size",
                "16", "--no-ray", "--precision", "fp32", *extra]  # fmt: skip

    first = subprocess.Popen(command(checkpoint), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)  # fmt: skip
    markers = path / "scenes" / "scene_0" / DONE_ARRAY / "c"
    deadline = time.time() + 120
    while time.time() < deadline and (not markers.exists() or sum(p.is_file() for p in markers.rglob("*")) < 10):
        assert first.poll() is None, "the first job ended before the second started"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGSTOP)  # a slow first job, caught mid-run
    try:
        second = subprocess.run(command(other_checkpoint, "--overwrite"), cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2, second.stderr[-2000:]  # its only scene refused: nothing done
    assert f"failed scene_0: another decloud job is writing it (held by process {first.pid}" in second.stdout
    assert first.wait(timeout=300) == 0, first.stderr[-2000:]
    scene = scene_arrays(path, "scene_0")
    assert scene.attrs["decloud"]["complete"] and scene.attrs["decloud"]["model"] == str(checkpoint)
    assert np.array_equal(scene[OUTPUT_ARRAY][:], scene_arrays(references["first"], "scene_0")[OUTPUT_ARRAY][:])
    assert not os.path.exists(lease_location(path, "decloud-scene_0"))

    again = subprocess.run(command(other_checkpoint, "--overwrite"), cwd=REPO_ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]  # once the first job is done, the overwrite goes through
    scene = scene_arrays(path, "scene_0")
    assert scene.attrs["decloud"]["model"] == str(other_checkpoint)
    assert np.array_equal(scene[OUTPUT_ARRAY][:], scene_arrays(references["second"], "scene_0")[OUTPUT_ARRAY][:])


def test_an_actor_whose_job_lost_the_lease_writes_nothing_more(scenes, checkpoint):
    from equicr.decloud.output import prepare_output
    from equicr.decloud.pipeline import DecloudActor
    from equicr.deploy.predictors import resolve_model
    from equicr.lease import LeaseLost, acquire_lease, lease_location

    reference, location = resolve_model(checkpoint), lease_location(scenes, "decloud-scene_1")
    lease = acquire_lease(location)
    scene = zarr.open_group(str(scenes), mode="r+")["scenes/scene_1"]
    settings = DecloudSettings(tile_size=16, halo=4)
    prepare_output(scene, "scene_1", reference.record(), settings, overwrite=False)
    actor = DecloudActor(str(scenes), reference, settings, {"scene_1": (location, lease.token)})
    actor.process("scene_1", 0, 0)
    lease.release()
    acquire_lease(location)  # another job, once ours had expired
    with pytest.raises(LeaseLost, match="lost its lease"):
        actor.process("scene_1", 0, 1)
    assert scene[DONE_ARRAY][:].tolist() == [[True, False, False], [False, False, False], [False, False, False]]
    assert (scene[OUTPUT_ARRAY][:, :16, 16:32] == 0).all(), "the tile of the lost lease was not written"


def flip_one_byte(chunk_file):
    """Damage a stored chunk as a failing disk or a bad copy would: one byte in the middle inverted."""
    data = bytearray(chunk_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk_file.write_bytes(bytes(data))


def test_a_damaged_chunk_fails_its_scene_naming_array_and_tile(tmp_path, checkpoint):
    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(70, 93), (41, 40)], seed=1)
    flip_one_byte(path / "scenes" / "scene_1" / "s2_cloudy" / "c" / "0" / "0" / "0")
    summary = decloud_here(path, checkpoint, tile_size=32)
    assert summary.scenes_done == ["scene_0"]
    reason = summary.scenes_failed["scene_1"]
    assert (
        "DamagedChunkError" in reason
        and "scenes/scene_1/s2_cloudy" in reason
        and "tile (0, 0) of scene scene_1" in reason
    )
    assert not scene_arrays(path, "scene_1").attrs["decloud"]["complete"]


def test_an_actor_refuses_a_model_replaced_after_the_job_resolved_it(scenes, tmp_path):
    from equicr.decloud.pipeline import DecloudActor
    from equicr.deploy.predictors import resolve_model
    from equicr.storage import ContentChangedError

    config = ModelConfig(width=2, num_blocks=1)
    path = save_checkpoint(tmp_path / "model.pt", build_model(config, identity_start=False), config)
    reference = resolve_model(path)
    torch.manual_seed(5)  # the same architecture with other weights: only the hash tells them apart
    save_checkpoint(path, build_model(config, identity_start=False), config)
    with pytest.raises(ContentChangedError, match=f"the job recorded {reference.sha256}"):
        DecloudActor(str(scenes), reference, DecloudSettings(tile_size=16, halo=2), leases={})


def test_the_record_keeps_the_settings_asked_for_and_the_precision_each_actor_ran(scenes, checkpoint):
    settings = DecloudSettings(tile_size=32, precision="auto", batch_size=2)
    run_decloud(scenes, checkpoint, settings, scenes=["scene_1"], pool=IN_PROCESS, progress=False)
    record = scene_arrays(scenes, "scene_1").attrs["decloud"]
    assert record["precision"] == "auto" and record["tile_size"] == 32 and record["halo"] == 6  # the model's radius
    assert "batch_size" not in record  # how work was grouped does not decide the output
    (actor,) = record["actors"]
    assert actor["backend"] == "torch" and actor["device"] == "cpu" and actor["precision"] in ("fp32", "bf16")
