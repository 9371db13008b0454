"""The small model shipped in the package: lean, optical-only, and as good as its model card says."""

import re
import subprocess
import sys

import pytest

from equicr.checkpoint import read_checkpoint
from equicr.data.collection import open_collection
from equicr.evaluation.aggregate import mean_of_records
from equicr.evaluation.scoring import evaluate_split
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.paths import SHIPPED_MODEL
from equicr.storage import file_sha256
from tests.fixtures.paths import REPO_ROOT

CARD = SHIPPED_MODEL.parent / "MODEL_CARD.md"


def test_the_shipped_model_is_lean_and_its_card_names_its_digest():
    checkpoint = read_checkpoint(SHIPPED_MODEL)
    assert SHIPPED_MODEL.stat().st_size < 1_000_000 and checkpoint.optimizer_state is None
    assert checkpoint.config.input_mode == "opt"
    assert file_sha256(SHIPPED_MODEL) in CARD.read_text()


@pytest.mark.slow
def test_the_card_states_what_the_model_scores_on_the_real_clouds(real_test_bench):
    stated = re.search(r"25 real cloudy/clear pairs: PSNR ([\d.]+) dB, SSIM ([\d.]+), SAM ([\d.]+)", CARD.read_text())
    measured = mean_of_records(evaluate_split(SHIPPED_MODEL, real_test_bench["real-clouds"], progress=False))
    assert float(stated[1]) == pytest.approx(measured["psnr"], abs=0.006)
    assert float(stated[2]) == pytest.approx(measured["ssim"], abs=6e-5)
    assert float(stated[3]) == pytest.approx(measured["sam"], abs=0.006)


def test_decloud_uses_the_shipped_model_when_none_is_named(tmp_path):
    scenes = write_synthetic_scenes(tmp_path / "scenes.zarr", [(40, 48)], seed=1)
    result = subprocess.run([sys.executable, "jobs/decloud.py", "--collection", str(scenes), "--no-ray"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 scene(s) done" in result.stdout
    record = open_collection(scenes, "scenes")["scenes"]["scene_0"].attrs["decloud"]
    assert record["model"] == str(SHIPPED_MODEL) and record["model_sha256"] == file_sha256(SHIPPED_MODEL)
