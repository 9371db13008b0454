"""bench/gpu.py: skips cleanly without CUDA (writing why), and plans every variant the issue names."""

import json
import subprocess
import sys

import pytest
import torch

from tests.fixtures.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import gpu  # noqa: E402


def test_the_plan_covers_every_precision_with_and_without_checkpointing():
    variants = gpu.training_variants()
    assert {(v.architecture, v.precision, v.checkpointing) for v in variants} == {
        (a, p, c) for a in ("equicr", "dsen2cr") for p in ("fp32", "tf32", "bf16") for c in (False, True)
    }
    assert len({v.name for v in variants}) == len(variants)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the benchmark would run for real")
def test_without_cuda_it_skips_and_says_why(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run([sys.executable, "bench/gpu.py", "--out", str(out)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped: no CUDA device" in result.stdout
    document = json.loads(out.read_text())
    assert document["skipped"].startswith("no CUDA device") and document["machine"]["cuda"] is False
    assert "avx512_bf16" in document["machine"]
