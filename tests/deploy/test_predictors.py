"""Predictors and the model references they are built from; a scorer's ``__call__`` on a hand-made batch."""

import numpy as np
import pytest

from equicr.checkpoint import save_checkpoint
from equicr.deploy.predictors import CLOUDY_INPUT, ModelReference, load_predictor, resolve_model
from equicr.evaluation.scoring import PatchScorer, batch_metrics
from equicr.ingest.simulated import write_synthetic_patches
from equicr.models import ModelConfig, build_model
from equicr.storage import file_sha256


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = ModelConfig("dsen2cr", width=3, num_blocks=1, input_mode="opt")
    return save_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", build_model(config), config), config


def test_a_reference_is_resolved_once_with_its_config_and_hash(checkpoint):
    path, config = checkpoint
    reference = resolve_model(path)
    assert reference == ModelReference(str(path), "torch", file_sha256(path), config, given=str(path))
    assert resolve_model(reference) is reference  # a resolved reference is passed through untouched
    assert reference.input_mode == "opt" and reference.receptive_field_radius == config.receptive_field_radius
    assert reference.record() == {
        "model": str(path),
        "model_sha256": file_sha256(path),
        "model_config": config.to_dict(),
    }


def test_the_baseline_is_no_network():
    reference = resolve_model(CLOUDY_INPUT)
    assert reference.config is None and reference.sha256 is None and reference.receptive_field_radius == 0
    inputs = np.random.default_rng(0).uniform(0, 2, (2, 15, 8, 8)).astype(np.float32)  # SAR+optical channels
    np.testing.assert_array_equal(load_predictor(reference).predict(inputs[:, :13]), inputs[:, :13])


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        resolve_model(tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        resolve_model(tmp_path / "missing.pt")


def test_scorer_call_on_a_hand_made_batch(tmp_path, checkpoint):
    """As in Ray's batch-inference examples: the callable class works on a plain dict without Ray."""
    path, _ = checkpoint
    collection = write_synthetic_patches(tmp_path / "p.zarr", count=10, size=24, seed=3)
    scorer = PatchScorer(str(path), str(collection), "train")
    out = scorer({"position": np.array([2, 0])})
    assert out["position"].tolist() == [2, 0]
    samples = [scorer.dataset[2], scorer.dataset[0]]
    assert out["patch_id"].tolist() == [s["patch_id"] for s in samples]
    inputs = np.stack([s["inputs"].numpy() for s in samples])
    expected = batch_metrics(scorer.predictor.predict(inputs), np.stack([s["target"].numpy() for s in samples]))
    for name, values in expected.items():
        np.testing.assert_allclose(out[name], values, rtol=1e-6)
    assert np.all(out["psnr"] > 0) and np.all(out["psnr"] <= 100)


WITHOUT_ONNX_RUNTIME = """
import sys
sys.modules["onnxruntime"] = None  # as if only `pip install equicr` (no [cpu] or [gpu] extra) were installed
import numpy as np
from equicr.deploy.predictors import OnnxPredictor, ModelReference, load_predictor
from equicr.paths import SHIPPED_MODEL
print("PREDICTED", load_predictor(SHIPPED_MODEL).predict(np.ones((1, 13, 8, 8), np.float32)).shape)
try:
    OnnxPredictor(ModelReference("m.onnx", "onnx"), None)
except ValueError as error:
    print("REFUSED", error)
"""


def test_a_checkpoint_runs_without_onnx_runtime_and_an_onnx_file_says_what_to_install():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", WITHOUT_ONNX_RUNTIME], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PREDICTED (1, 13, 8, 8)" in result.stdout
    assert "REFUSED running m.onnx needs ONNX Runtime: pip install 'equicr[cpu]'" in result.stdout
