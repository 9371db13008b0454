"""The small model shipped in the package: lean, optical-only, and as good as its model card says."""

import re
import subprocess
import sys

import pytest

from equicr.checkpoint import read_checkpoint
from equicr.data.collection import open_collection
from equicr.evaluation.aggregate import RAW_PREFIX, mean_of_records
from equicr.evaluation.scoring import evaluate_split
from equicr.experiments.model_card import BENCH_LABELS
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.paths import SHIPPED_MODEL
from equicr.storage import file_sha256
from tests.fixtures.paths import REPO_ROOT, SHARED_DATA_DIR

CARD = SHIPPED_MODEL.parent / "MODEL_CARD.md"


def test_the_shipped_model_is_lean_and_its_card_names_its_digest():
    checkpoint = read_checkpoint(SHIPPED_MODEL)
    assert SHIPPED_MODEL.stat().st_size < 1_000_000 and checkpoint.optimizer_state is None
    assert checkpoint.config.input_mode == "opt"
    assert file_sha256(SHIPPED_MODEL) in CARD.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("collection", ["real-clouds", "virginia-unseen"])
def test_the_card_states_what_the_model_and_its_written_output_score(real_test_bench, collection):
    """The card's numbers, for what decloud writes and for the network alone, measured again (rounding apart)."""
    label = BENCH_LABELS[collection]
    line = next(line for line in CARD.read_text().splitlines() if line.strip().startswith(f"- {label},"))
    records = evaluate_split(SHIPPED_MODEL, real_test_bench[collection], progress=False)
    for stated_as, prefix in (("written", ""), ("network", RAW_PREFIX)):
        stated = re.search(stated_as + r" PSNR ([\d.]+) dB, SSIM ([\d.]+), SAM ([\d.]+) deg", line)
        measured = mean_of_records(records, prefix)
        assert float(stated[1]) == pytest.approx(measured["psnr"], abs=0.006), (collection, stated_as)
        assert float(stated[2]) == pytest.approx(measured["ssim"], abs=6e-5), (collection, stated_as)
        assert float(stated[3]) == pytest.approx(measured["sam"], abs=0.006), (collection, stated_as)


@pytest.mark.slow
def test_the_card_states_the_gains_under_thick_and_thin_cloud(real_test_bench):
    """The card's thick/thin line for the real-cloud pairs, measured again: images, and each output's PSNR."""
    from equicr.evaluation.thickness import thickness_scores

    lines = CARD.read_text().splitlines()
    pairs = next(i for i, line in enumerate(lines) if line.strip().startswith(f"- {BENCH_LABELS['real-clouds']},"))
    stated = lines[pairs + 1]
    measured = thickness_scores(SHIPPED_MODEL, real_test_bench["real-clouds"])
    for kind in ("thick", "thin"):
        pattern = (
            r" (\d+) images \(\d+% of their pixels\): written PSNR ([\d.]+) dB, network ([\d.]+) dB, cloudy ([\d.]+)"
        )
        found = re.search(kind + pattern, stated)
        assert found, (kind, stated)
        assert int(found[1]) == measured[kind]["images"] > 0
        for group, output in ((2, "written"), (3, "raw"), (4, "cloudy")):
            assert float(found[group]) == pytest.approx(measured[kind][output], abs=0.006), (kind, output)
    assert measured["thick"]["written"] - measured["thick"]["cloudy"] > 3  # thick cloud is where the model earns most


def test_decloud_uses_the_shipped_model_when_none_is_named(tmp_path):
    scenes = write_synthetic_scenes(tmp_path / "scenes.zarr", [(40, 48)], seed=1)
    result = subprocess.run([sys.executable, "jobs/decloud.py", "--collection", str(scenes), "--no-ray"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 scene(s) done" in result.stdout
    record = open_collection(scenes, "scenes")["scenes"]["scene_0"].attrs["decloud"]
    assert record["model"] == str(SHIPPED_MODEL) and record["model_sha256"] == file_sha256(SHIPPED_MODEL)


def test_a_clear_real_image_comes_back_unchanged(tmp_path):
    """Unseen clear land through the notebook call with its defaults: the network alone darkens it, the output not.

    Tolerance: at least 99.9 % of the pixels exactly as they were and a PSNR against the input of at
    least 60 dB (the network alone: about 31 dB on this land).
    """
    import numpy as np
    import rasterio

    import equicr
    from equicr.data.virginia import virginia_geotiffs

    (patch, *_) = virginia_geotiffs(SHARED_DATA_DIR, tmp_path / "land", "unseen")
    out = equicr.decloud_geotiff(patch.s2, tmp_path / "out.tif", progress=False)
    with rasterio.open(patch.s2) as source, rasterio.open(out) as written:
        before, after = source.read().astype(np.float64), written.read().astype(np.float64)
    unchanged = (before == after).all(axis=0).mean()
    rmse = np.sqrt((((np.clip(before, 0, 1e4) - np.clip(after, 0, 1e4)) / 1e4) ** 2).mean())
    psnr = 20 * np.log10(1 / max(rmse, 1e-10))
    assert unchanged >= 0.999 and psnr >= 60, (unchanged, psnr)
