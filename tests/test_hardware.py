"""``--precision auto``: bfloat16 only where the device computes it natively, decided by torch's CPU detection."""

import pytest
import torch

from equicr import hardware
from equicr.hardware import choose_precision


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [(False, False, "fp32"), (True, False, "bf16"),
                                                              (False, True, "bf16")])  # fmt: skip
def test_auto_follows_the_cpu_capability(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    choice = choose_precision("auto", "cpu")
    assert choice.precision == expected
    assert ("no native bfloat16" in choice.reason) == (expected == "fp32")


def test_explicit_requests_are_kept_and_nonsense_is_refused(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert choose_precision("bf16").precision == "bf16" and choose_precision("fp32").precision == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp16")


def test_auto_on_cuda_asks_the_device(monkeypatch):
    monkeypatch.setattr(hardware, "cuda_has_native_bf16", lambda: False)
    assert choose_precision("auto", "cuda").precision == "fp32"


def test_a_predictor_runs_and_reports_the_chosen_precision(monkeypatch, tmp_path):
    from equicr.checkpoint import save_checkpoint
    from equicr.deploy.predictors import describe, load_predictor
    from equicr.models import ModelConfig, build_model

    config = ModelConfig("dsen2cr", width=4, num_blocks=1)
    path = save_checkpoint(tmp_path / "m.pt", build_model(config), config)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    predictor = load_predictor(path, precision="auto")
    assert predictor.model.dtype == torch.float32 and "fp32 (auto: the CPU has no native bfloat16" in describe(
        predictor
    )
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert load_predictor(path, precision="auto").model.dtype == torch.bfloat16
