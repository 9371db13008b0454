"""ONNX export and verification: every architecture and input mode, corrupted graphs, metadata, runtime loader."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from equicr.bands import S2_BANDS, input_bands
from equicr.checkpoint import save_checkpoint
from equicr.data.sen12mscr import index_tree, read_triplet
from equicr.deploy.export import export_onnx
from equicr.deploy.runtime import CloudRemovalSession, choose_providers
from equicr.deploy.verify import verify_onnx
from equicr.models import ModelConfig, build_model
from equicr.scaling import network_to_optical_dn, valid_input_mask
from equicr.storage import file_sha256
from tests.fixtures.paths import REPO_ROOT

CASES = [("equicr", "sar+opt"), ("equicr", "opt"), ("equicr", "sar"), ("dsen2cr", "sar+opt")]


def small_model(architecture="equicr", input_mode="sar+opt"):
    config = ModelConfig(architecture, width=3 if architecture == "equicr" else 6, num_blocks=2, input_mode=input_mode)
    return build_model(config, identity_start=False).eval(), config


@pytest.mark.parametrize(("architecture", "input_mode"), CASES)
def test_export_and_verify_every_architecture_and_mode(tmp_path, architecture, input_mode):
    model, config = small_model(architecture, input_mode)
    path = export_onnx(model, config, tmp_path / "model.onnx")
    report = verify_onnx(path, reference=model)
    assert report.passed, report.summary()
    names = [check.name for check in report.checks]
    assert any("real patches" in name for name in names) and sum("equivariance" in n for n in names) == 2
    # What ONNX Runtime runs once it has folded the compact form's basis expansion at load.
    assert optimized_op_types(path, tmp_path) <= {"Conv", "Relu", "Add", "Mul", "Slice"}
    equivariance = [c for c in report.checks if "equivariance" in c.name]
    if architecture == "equicr":
        assert all(c.measured < 1e-5 for c in equivariance)
    else:  # measured, reported, not required
        assert all(c.measured > 1e-2 and "not required" in c.detail and c.tolerance is None for c in equivariance)


def optimized_op_types(path, folder):
    """Operator types of the graph ONNX Runtime runs after its load-time optimisations (constant folding)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folder / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return {node.op_type for node in onnx.load(str(folder / "optimized.onnx")).graph.node}


def test_compact_file_stores_coefficients_and_equals_the_expanded_export(tmp_path):
    config = ModelConfig(width=48, num_blocks=1)  # wide enough that the bases are small beside the coefficients
    model = build_model(config, identity_start=False).eval()
    compact = export_onnx(model, config, tmp_path / "compact.onnx")
    expanded = export_onnx(model, config, tmp_path / "expanded.onnx", filters="expanded")
    parameter_bytes = 4 * sum(p.numel() for p in model.parameters())
    # The compact file is the coefficients plus escnn's small bases; the expanded one 4 x 4 x 9 floats per pair.
    assert compact.stat().st_size <= 1.2 * parameter_bytes < expanded.stat().st_size / 3
    assert "Einsum" in {node.op_type for node in onnx.load(str(compact)).graph.node}
    inputs = np.random.default_rng(0).uniform(0, 2, (2, 15, 29, 34)).astype(np.float32)
    outputs = [CloudRemovalSession(path).run_network(inputs) for path in (compact, expanded)]
    assert np.abs(outputs[0] - outputs[1]).max() <= 1e-5 * np.abs(outputs[1]).max()
    sessions = [CloudRemovalSession(path) for path in (compact, expanded)]
    assert [s.metadata["filters"] for s in sessions] == ["basis", "expanded"]
    assert verify_onnx(compact, reference=model, real_patches=False).passed


def test_dynamic_batch_height_and_width(tmp_path):
    model, config = small_model()
    session = CloudRemovalSession(export_onnx(model, config, tmp_path / "m.onnx"))
    for shape in [(1, 15, 20, 20), (3, 15, 31, 47)]:
        assert session.run_network(np.zeros(shape, np.float32)).shape == (shape[0], 13, *shape[2:])


def corrupt_one_weight(path, out):
    graph = onnx.load(str(path))
    weight = next(i for i in graph.graph.initializer if len(i.dims) == 4 and i.dims[0] > 1)
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    onnx.save(graph, str(out))
    return out


def test_changed_weight_fails_parity_and_equivariance(tmp_path):
    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "model.onnx")
    report = verify_onnx(corrupt_one_weight(path, tmp_path / "bad.onnx"), reference=model, real_patches=False)
    assert not report.passed
    failed = {check.name for check in report.checks if not check.passed}
    assert "parity with PyTorch, random inputs" in failed
    assert any("rotation equivariance" in name for name in failed)
    assert "FAILED" in report.summary() and "[FAIL] rotation equivariance" in report.summary()


def test_non_equivariant_layer_spliced_in_fails_equivariance(tmp_path):
    """A DSen2-CR graph carrying EquiCR's metadata (as if a plain layer replaced an equivariant one)."""
    equicr, config = small_model("equicr")
    dsen2cr, _ = small_model("dsen2cr")
    path = export_onnx(equicr, config, tmp_path / "equicr.onnx")
    plain = export_onnx(dsen2cr, dsen2cr_config := ModelConfig("dsen2cr", width=6, num_blocks=2), tmp_path / "p.onnx")
    spliced = onnx.load(str(plain))
    onnx.helper.set_model_props(spliced, {p.key: p.value for p in onnx.load(str(path)).metadata_props})
    onnx.save(spliced, str(tmp_path / "spliced.onnx"))
    report = verify_onnx(tmp_path / "spliced.onnx")
    assert not report.passed and dsen2cr_config.group == "trivial"
    assert all(not c.passed for c in report.checks if "equivariance" in c.name)


def test_metadata_round_trip(tmp_path):
    model, config = small_model(input_mode="opt")
    checkpoint = save_checkpoint(tmp_path / "model.pt", model, config)
    path = export_onnx(model, config, tmp_path / "model.onnx", checkpoint_sha256=file_sha256(checkpoint))
    metadata = CloudRemovalSession(path).metadata
    assert ModelConfig.from_dict(metadata["model_config"]) == config
    assert metadata["input_bands"] == list(input_bands("opt")) and metadata["output_bands"] == list(S2_BANDS)
    assert metadata["symmetry_group"] == "p4" and metadata["rotation_equivariant"] is True
    assert metadata["trainable_parameters"] == sum(p.numel() for p in model.parameters())
    assert metadata["checkpoint_sha256"] == file_sha256(checkpoint)
    assert metadata["scaling"]["sar_db_range"] == {"VV": [-25.0, 0.0], "VH": [-32.5, 0.0]}
    assert {"torch", "escnn", "onnx", "onnxruntime"} <= set(metadata["library_versions"])
    # readable without equicr: plain ONNX Runtime
    raw = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert json.loads(raw["equicr.model_config"])["input_mode"] == "opt"


def test_runtime_loader_gives_the_pytorch_dn_on_real_patches(tmp_path, mini_dir):
    model, config = small_model()
    session = CloudRemovalSession(export_onnx(model, config, tmp_path / "model.onnx"))
    records, _ = index_tree(mini_dir)
    triplet = read_triplet(records[0].paths)
    dn = session.predict_dn(triplet.s1, triplet.s2_cloudy, postprocessing="raw")  # the network alone
    assert dn.dtype == np.uint16 and dn.shape == (13, 256, 256)
    with torch.no_grad():
        expected = network_to_optical_dn(
            model(torch.from_numpy(session.network_inputs(triplet.s1, triplet.s2_cloudy))[None]).numpy()
        )[0]
    valid = valid_input_mask(triplet.s1, triplet.s2_cloudy, config.input_mode)  # the one no-data policy
    assert np.abs(dn.astype(int) - expected.astype(int))[:, valid].max() <= 1  # at most one DN of float rounding
    assert (dn[:, ~valid] == 0).all()


def test_provider_reporting_without_a_gpu(tmp_path):
    model, config = small_model()
    session = CloudRemovalSession(export_onnx(model, config, tmp_path / "model.onnx"))
    assert choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert session.active_provider == "CPUExecutionProvider"
        # asking for CUDA on a machine without it still runs, on the CPU, and says so
        fallback = CloudRemovalSession(session.path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        assert fallback.active_provider == "CPUExecutionProvider"
    else:
        assert session.active_provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@pytest.mark.slow
def test_float16_weights_halve_the_file_within_their_tolerance(tmp_path):
    config = ModelConfig(width=32, num_blocks=1)  # wide enough for the weights to dominate the file
    model = build_model(config, identity_start=False).eval()
    full = export_onnx(model, config, tmp_path / "fp32.onnx")
    half = export_onnx(model, config, tmp_path / "fp16.onnx", weights_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size, (half.stat().st_size, full.stat().st_size)
    report = verify_onnx(half, reference=model, real_patches=False)
    assert report.passed, report.summary()
    parity = next(c for c in report.checks if c.name.startswith("parity"))
    assert parity.tolerance == 2e-2 and parity.measured > 0


@pytest.mark.slow
def test_cli_exports_verifies_and_refuses_a_foreign_checkpoint(tmp_path):
    model, config = small_model()
    checkpoint = save_checkpoint(tmp_path / "model.pt", model, config)
    out = tmp_path / "model.onnx"
    run = [sys.executable, "export/to_onnx.py", "--checkpoint", str(checkpoint), "--out", str(out)]
    result = subprocess.run(run, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and json.loads(out.with_suffix(".verification.json").read_text())["passed"]
    other, _ = small_model()
    foreign = save_checkpoint(tmp_path / "other.pt", other, config)
    verify = [sys.executable, "export/verify.py", str(out), "--checkpoint", str(foreign), "--skip-real-patches"]
    result = subprocess.run(verify, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "[FAIL] exported from this checkpoint" in result.stdout


@pytest.mark.slow
def test_standalone_deployment_script_matches_the_runtime_loader(tmp_path, mini_dir):
    """docs/run_onnx_standalone.py uses only numpy, rasterio, onnxruntime and s2cloudless, and gives the same DN.

    With the default post-processing, whole and in tiles (s2cloudless aligned to its grid: tile-free).
    """
    source = (REPO_ROOT / "docs" / "run_onnx_standalone.py").read_text()
    assert "equicr" not in source.replace("equicr.", "").replace("EquiCR", "")  # no import of this project
    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "model.onnx")
    record = index_tree(mini_dir)[0][0]
    triplet = read_triplet(record.paths)
    expected = CloudRemovalSession(path).predict_dn(triplet.s1, triplet.s2_cloudy)  # the default post-processing
    raw = CloudRemovalSession(path).predict_dn(triplet.s1, triplet.s2_cloudy, postprocessing="raw")
    assert (raw != expected).mean() > 0.1  # the post-processing is what is being compared, not a no-op
    valid = valid_input_mask(triplet.s1, triplet.s2_cloudy, config.input_mode)
    import rasterio

    for tile_size in (1024, 100):  # whole patch in one tile, and 3 x 3 tiles read with a halo
        out = tmp_path / f"declouded-{tile_size}.tif"
        command = [sys.executable, str(REPO_ROOT / "docs" / "run_onnx_standalone.py"), str(path),
                   str(record.paths["s2_cloudy"]), str(out), "--s1", str(record.paths["s1"]),
                   "--tile-size", str(tile_size)]  # fmt: skip
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with rasterio.open(out) as dataset:
            assert dataset.crs.to_string() == "EPSG:32650" and dataset.nodata == 0
            assert dataset.driver == "GTiff" and dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            written = dataset.read().astype(int)
        assert np.abs(written[:, valid] - expected[:, valid].astype(int)).max() <= 1
        assert (written[:, ~valid] == 0).all()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tif") == [
        "declouded-100.tif",
        "declouded-1024.tif",
    ]

    # A SAR model without --s1 is refused by name and writes nothing; an optical model needs no SAR at all.
    refused = tmp_path / "refused.tif"
    command = [sys.executable, str(REPO_ROOT / "docs" / "run_onnx_standalone.py"), str(path),
               str(record.paths["s2_cloudy"]), str(refused)]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "reads Sentinel-1" in result.stderr and "--s1" in result.stderr
    assert not refused.exists()
    optical = export_onnx(*small_model("equicr", "opt"), tmp_path / "optical.onnx")
    out = tmp_path / "optical.tif"
    command = [sys.executable, str(REPO_ROOT / "docs" / "run_onnx_standalone.py"), str(optical),
               str(record.paths["s2_cloudy"]), str(out)]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = CloudRemovalSession(optical).predict_dn(None, triplet.s2_cloudy)
    with rasterio.open(out) as dataset:
        assert np.abs(dataset.read().astype(int) - expected.astype(int)).max() <= 1


def test_the_file_alone_catches_an_altered_trained_coefficient(tmp_path):
    """No checkpoint means no parity, and the altered graph stays equivariant: the recorded outputs catch it."""
    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "compact.onnx")  # basis form: coefficients and escnn's bases
    assert verify_onnx(path, real_patches=False).passed
    graph = onnx.load(str(path))
    coefficients = [i for i in graph.graph.initializer if "coefficients" in i.name]
    assert coefficients, [i.name for i in graph.graph.initializer]
    altered = coefficients[len(coefficients) // 2]  # a trained coefficient of a block, not a fixed basis
    values = numpy_helper.to_array(altered).copy()
    values.flat[0] += 0.05
    altered.CopyFrom(numpy_helper.from_array(values, altered.name))
    onnx.save(graph, str(tmp_path / "altered.onnx"))
    report = verify_onnx(tmp_path / "altered.onnx", real_patches=False)
    failed = {check.name for check in report.checks if not check.passed}
    assert failed == {"outputs recorded at export"}, report.summary()  # still equivariant: only this check sees it


def test_the_gate_checks_real_patch_parity_with_what_the_package_ships_or_the_user_names(tmp_path, mini_dir):
    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "m.onnx")
    shipped = verify_onnx(path, reference=model, real_patches=True)
    named = verify_onnx(path, reference=model, real_patches=True, patches_root=mini_dir)
    for report, where in ((shipped, "the shipped patches"), (named, f"the SEN12MS-CR tree {mini_dir}")):
        assert report.passed
        check = next(c for c in report.checks if c.name == f"parity with PyTorch, real patches ({where})")
        assert check.measured < check.tolerance and "256x256 px" in check.detail
    with pytest.raises(FileNotFoundError, match="no complete SEN12MS-CR triplet"):
        verify_onnx(path, reference=model, real_patches=True, patches_root=tmp_path)


def test_a_checkpoint_of_another_model_is_a_failed_check_not_a_crash(tmp_path):
    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "m.onnx")
    other = ModelConfig("dsen2cr", width=4, num_blocks=1, input_mode="opt")
    checkpoint = save_checkpoint(tmp_path / "other.pt", build_model(other), other)
    report = verify_onnx(path, checkpoint=checkpoint, real_patches=False)
    failed = {check.name: check.detail for check in report.checks if not check.passed}
    assert "checkpoint describes the file's model" in failed and "architecture: checkpoint 'dsen2cr'" in str(failed)
