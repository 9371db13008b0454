"""Fast inference paths against the reference: channels-last float32, bfloat16, through the predictor too."""

import numpy as np
import pytest
import torch

from equicr.checkpoint import save_checkpoint
from equicr.deploy.export import plain_torch_model
from equicr.deploy.inference import TOLERANCE, PreparedModel
from equicr.deploy.predictors import load_predictor
from equicr.equivariance import transform_grid
from equicr.models import ModelConfig, build_model
from equicr.scaling import network_inputs


def relative_error(output, reference):
    return float((output - reference).abs().max() / reference.abs().max())


@pytest.fixture(scope="module")
def plain_equicr():
    return plain_torch_model(build_model(ModelConfig(width=8, num_blocks=2), identity_start=False))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_prepared_model_matches_the_float32_reference(plain_equicr, precision, channels_last):
    x = torch.rand(2, 15, 37, 42) * 2
    with torch.inference_mode():
        reference = plain_equicr(x)
        output = PreparedModel(plain_equicr, precision, channels_last)(x)
    assert output.dtype == torch.float32 and output.is_contiguous() and output.shape == reference.shape
    error = relative_error(output, reference)
    assert error <= TOLERANCE[precision]
    if precision == "bf16":  # it really ran in bfloat16: an error float32 never makes
        assert error > 1e-4


def test_bfloat16_keeps_the_long_skip_exact_and_stays_equivariant_within_tolerance(plain_equicr):
    with torch.no_grad():  # a zero trunk output: the prediction is the float32 skip alone
        plain_equicr.tail.weight.zero_()
        plain_equicr.tail.bias.zero_()
    x = torch.rand(1, 15, 30, 30) * 2
    with torch.inference_mode():
        assert torch.equal(PreparedModel(plain_equicr, "bf16")(x), x[:, :13])
    random_model = plain_torch_model(build_model(ModelConfig(width=8, num_blocks=2), identity_start=False))
    prepared = PreparedModel(random_model, "bf16")
    with torch.inference_mode():
        rotated_output = prepared(transform_grid(x, 1, False))
        error = relative_error(transform_grid(prepared(x), 1, False), rotated_output)
    assert error <= TOLERANCE["bf16"]


def test_predictor_runs_bfloat16_on_a_real_patch_within_tolerance(tmp_path, real_triplet):
    config = ModelConfig(width=4, num_blocks=1)
    checkpoint = save_checkpoint(tmp_path / "m.pt", build_model(config, identity_start=False), config)
    inputs = network_inputs(real_triplet["s1"], real_triplet["s2_cloudy"], "sar+opt")[None, :, :96, :96]
    full, half = (load_predictor(checkpoint, precision=p).predict(inputs) for p in ("fp32", "bf16"))
    assert np.abs(half - full).max() <= TOLERANCE["bf16"] * np.abs(full).max()
    from equicr.deploy.export import export_onnx

    onnx_file = export_onnx(build_model(config).eval(), config, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="an ONNX file has no bfloat16 form"):
        load_predictor(onnx_file, precision="bf16")
