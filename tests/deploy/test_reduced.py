"""Reduced-precision deployment files: INT8 and float16 exported beside the float32 file, verified, chosen by device."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from equicr.checkpoint import load_model
from equicr.deploy import reduced as reduced_module
from equicr.deploy.gate import export_and_publish
from equicr.deploy.predictors import load_predictor, resolve_model
from equicr.deploy.reduced import preferred_variant, reduced_location
from equicr.deploy.reports import report_location
from equicr.deploy.verify import REDUCED_QUALITY_TOLERANCE
from equicr.paths import SHIPPED_MODEL
from equicr.scaling import network_inputs


@pytest.fixture(scope="module")
def published(tmp_path_factory, mini_dir):
    """The shipped model (a trained DSen2-CR) exported with both reduced variants, calibrated on real patches."""
    model, checkpoint = load_model(SHIPPED_MODEL)
    out = tmp_path_factory.mktemp("deploy") / "model.onnx"
    outcome = export_and_publish(model, checkpoint.config, SHIPPED_MODEL, str(out), patches_root=mini_dir,
                                 reduced=("int8", "float16"))  # fmt: skip
    return out, outcome


def test_both_variants_are_verified_against_float32_and_published_beside_it(published):
    out, outcome = published
    assert outcome.all_published, [v.report.summary() for v in outcome.variants]
    for precision, variant in zip(("int8", "float16"), outcome.variants, strict=True):
        assert variant.file == reduced_location(str(out), precision) and Path(variant.file).is_file()
        report = json.loads(Path(report_location(variant.file)).read_text())
        assert report["passed"] and report["metadata"]["precision"] == precision
        losses = {check["name"]: check["measured"] for check in report["checks"] if "lost" in check["name"]}
        assert losses["PSNR lost against float32 (dB)"] <= REDUCED_QUALITY_TOLERANCE["psnr_db"]
        assert losses["SAM lost against float32 (degrees)"] <= REDUCED_QUALITY_TOLERANCE["sam_deg"]
    ops = {node.op_type for node in onnx.load(outcome.variants[0].file).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops  # QDQ form: integer convolutions in the runtime


def test_auto_runs_the_variant_the_device_computes_natively(published, monkeypatch, real_triplet):
    out, _ = published
    monkeypatch.setattr("equicr.hardware.cpu_has_native_int8", lambda: False)
    assert preferred_variant(str(out), "auto", "cpu")[0] == str(out)  # no VNNI or AMX: float32
    assert preferred_variant(str(out), "fp32", "cuda")[0] == str(out)  # asked for float32
    assert preferred_variant(str(out), "auto", "cuda")[0] == reduced_location(str(out), "float16")
    monkeypatch.setattr("equicr.hardware.cpu_has_native_int8", lambda: True)
    reference = resolve_model(out, "auto", "cpu")
    assert reference.location == reduced_location(str(out), "int8")
    predictor = load_predictor(reference)
    assert predictor.source["precision"] == "int8"
    inputs = network_inputs(None, real_triplet["s2_cloudy"], "opt")[None]
    full = load_predictor(out).predict(inputs)
    assert np.abs(predictor.predict(inputs) - full).mean() < 0.01  # network units: 20 DN


def test_a_variant_without_a_passing_report_for_its_bytes_is_never_chosen(published, monkeypatch, tmp_path):
    out, _ = published
    copy = tmp_path / "model.onnx"
    for source in (out, Path(report_location(out)), Path(reduced_location(str(out), "int8"))):
        (tmp_path / source.name).write_bytes(source.read_bytes())  # the int8 file without its report
    monkeypatch.setattr("equicr.hardware.cpu_has_native_int8", lambda: True)
    location, reason = preferred_variant(str(copy), "auto", "cpu")
    assert location == str(copy) and "no verified int8 file beside it" in reason
    assert reduced_module.reduced_location("s3://b/m.onnx", "int8") == "s3://b/m.int8.onnx"
