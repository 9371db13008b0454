"""The deployment gate: only a verified file is published, and a file runs only with a passing report for its bytes."""

import json
from pathlib import Path

import onnx
import pytest

from equicr.checkpoint import save_checkpoint
from equicr.deploy import verify
from equicr.deploy.export import export_onnx
from equicr.deploy.gate import export_and_publish
from equicr.deploy.predictors import resolve_model
from equicr.deploy.reports import UnverifiedModelError, report_location
from equicr.deploy.verify import group_transforms, verify_onnx
from equicr.models import ModelConfig, build_model
from equicr.storage import file_sha256, write_json


def small_model(architecture="equicr", group=None):
    config = ModelConfig(architecture, width=2 if architecture == "equicr" else 4, num_blocks=1, group=group)
    return build_model(config, identity_start=False).eval(), config


def test_a_file_that_fails_verification_is_never_where_the_user_asked(tmp_path, monkeypatch):
    model, config = small_model()
    checkpoint = save_checkpoint(tmp_path / "model.pt", model, config)
    out = tmp_path / "deploy" / "model.onnx"
    report_file = Path(report_location(out))
    published = export_and_publish(model, config, checkpoint, str(out), real_patches=False)
    assert published.published and published.file == str(out)
    assert json.loads(report_file.read_text())["sha256"] == file_sha256(out)
    before = out.read_bytes(), report_file.read_bytes()

    monkeypatch.setitem(verify.PARITY_TOLERANCE, "float32", 0.0)  # every parity check now fails
    other, _ = small_model()
    failed = export_and_publish(other, config, save_checkpoint(tmp_path / "o.pt", other, config), str(out),
                                real_patches=False)  # fmt: skip
    assert not failed.published
    assert (out.read_bytes(), report_file.read_bytes()) == before  # the verified file and its report are untouched
    kept = Path(failed.file)
    assert kept.is_file() and kept.name == "model.onnx" and kept.parent != out.parent
    assert not json.loads(Path(failed.report_file).read_text())["passed"]
    again = export_and_publish(other, config, tmp_path / "o.pt", str(tmp_path / "elsewhere" / "model.onnx"),
                               real_patches=False)  # fmt: skip
    assert Path(again.file).parent != kept.parent  # one folder per run: two exports of one name never share a file
    assert not (tmp_path / "elsewhere" / "model.onnx").exists()


def test_an_onnx_file_runs_only_with_a_passing_report_for_its_exact_bytes(tmp_path):
    model, config = small_model("dsen2cr")
    path = export_onnx(model, config, tmp_path / "model.onnx")
    with pytest.raises(UnverifiedModelError, match=r"model.onnx has no readable verification report"):
        resolve_model(path)
    report = verify_onnx(path, reference=model, real_patches=False)
    write_json(report_location(path), report.to_dict())
    assert resolve_model(path).sha256 == file_sha256(path)

    other, _ = small_model("dsen2cr")
    export_onnx(other, config, path)  # replaced after verification: the old passing report stays beside it
    with pytest.raises(UnverifiedModelError, match=r"verified other bytes .* the file changed after verification"):
        resolve_model(path)
    failing = {**report.to_dict(), "sha256": file_sha256(path), "passed": False}
    failing["checks"][0]["passed"] = False
    write_json(report_location(path), failing)
    with pytest.raises(UnverifiedModelError, match=r"failed verification \(metadata describes the model\)"):
        resolve_model(path)


def tampered(path, out, **values):
    graph = onnx.load(str(path))
    for prop in graph.metadata_props:
        key = prop.key.removeprefix("equicr.")
        if key in values:
            prop.value = json.dumps(values[key])
    onnx.save(graph, str(out))
    return out


def test_the_gate_requires_what_the_architecture_and_group_imply_not_what_the_metadata_claims(tmp_path):
    assert group_transforms(small_model("dsen2cr")[1]) == []
    assert group_transforms(small_model()[1]) == [(1, False), (2, False), (3, False)]
    assert len(group_transforms(small_model(group="p4m")[1])) == 3 + 4  # rotations, and the four reflections

    model, config = small_model()
    path = export_onnx(model, config, tmp_path / "model.onnx")
    claims = {"rotation_equivariant": False, "input_bands": list(reversed(json.loads(
        next(p.value for p in onnx.load(str(path)).metadata_props if p.key == "equicr.input_bands"))))}  # fmt: skip
    report = verify_onnx(tampered(path, tmp_path / "lying.onnx", **claims), reference=model, real_patches=False)
    failed = {check.name: check.detail for check in report.checks if not check.passed}
    assert list(failed) == ["metadata describes the model"], report.summary()
    assert "input_bands is ['VH', 'VV'" in failed["metadata describes the model"]
    assert "rotation_equivariant is False, the model's is True" in failed["metadata describes the model"]
    equivariance = [check for check in report.checks if "equivariance" in check.name]
    assert equivariance and all(check.tolerance is not None for check in equivariance)  # still required
