"""Evaluation: aggregation and cloud-cover binning, and the report of a tiny run."""

import csv
import json
import math
import subprocess
import sys

import pytest

from equicr.checkpoint import save_checkpoint
from equicr.evaluation.aggregate import (
    cover_bin_index,
    cover_bin_label,
    cover_bin_medians,
    markdown_table,
    mean_of_records,
)
from equicr.ingest.simulated import write_synthetic_patches
from equicr.metrics import PSNR_CAP_DB
from equicr.models import ModelConfig, build_model
from tests.fixtures.paths import REPO_ROOT


def record(cover, psnr, mae=0.1, ssim=0.5, sam=10.0):
    return {"patch_id": f"p{cover}", "cloud_cover": cover, "psnr": psnr, "mae": mae, "ssim": ssim, "sam": sam}


def test_bins_include_0_and_100_percent_cover():
    assert cover_bin_index(0.0) == 0 and cover_bin_index(0.0999) == 0 and cover_bin_index(0.1) == 1
    assert cover_bin_index(0.95) == 9 and cover_bin_index(1.0) == 9
    assert [cover_bin_label(i) for i in (0, 9)] == ["0-10%", "90-100%"]
    with pytest.raises(ValueError, match="cloud cover must lie in"):
        cover_bin_index(1.2)


def test_medians_per_bin_keep_empty_bins():
    rows = cover_bin_medians([record(0.0, 30), record(0.05, 34), record(0.07, 40), record(1.0, 20), record(0.93, 22)])
    assert len(rows) == 10
    assert rows[0] == {"bin": "0-10%", "images": 3, "psnr": 34.0, "mae": 0.1, "ssim": 0.5, "sam": 10.0}
    assert rows[9]["images"] == 2 and rows[9]["psnr"] == 21.0
    assert rows[4]["images"] == 0 and math.isnan(rows[4]["psnr"])
    assert "| 40-50% | 0 | - | - | - | - |" in markdown_table(rows, ["bin", "images", "psnr", "mae", "ssim", "sam"])


def test_identical_images_score_the_psnr_cap_in_evaluation_and_training():
    """One policy: a perfect prediction counts as PSNR_CAP_DB in evaluation records and in training's sums."""
    import torch
    from torch.utils.data import DataLoader

    from equicr.evaluation.scoring import batch_metrics
    from equicr.training.loop import evaluate

    target = torch.rand(2, 13, 16, 16)
    metrics = batch_metrics(target.numpy() * 5.0, target.numpy() * 5.0)
    assert metrics["psnr"].tolist() == [PSNR_CAP_DB, PSNR_CAP_DB]
    records = [{"cloud_cover": 0.0, **{name: float(values[i]) for name, values in metrics.items()}} for i in range(2)]
    assert mean_of_records(records)["psnr"] == PSNR_CAP_DB

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    loader = DataLoader([{"inputs": t * 5.0, "target": t * 5.0} for t in target], batch_size=2)
    sums = evaluate(Identity(), loader, torch.device("cpu"))
    assert sums["psnr"] / sums["count"] == PSNR_CAP_DB


def test_summary_json_is_strict_json_with_null_for_empty_bins(tmp_path):
    from equicr.evaluation.report import write_report

    write_report([record(0.05, 30.0), record(0.95, 20.0)], tmp_path, "two images")
    text = (tmp_path / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"summary.json holds {name}"))
    assert summary["cover_bins"][4] == {"bin": "40-50%", "images": 0, "psnr": None, "mae": None, "ssim": None,
                                        "sam": None}  # fmt: skip
    assert summary["mean"]["psnr"] == 25.0


@pytest.mark.slow
def test_report_of_a_tiny_run(tmp_path):
    collection = write_synthetic_patches(tmp_path / "p.zarr", count=20, size=24, seed=6)
    config = ModelConfig(width=2, num_blocks=1)
    checkpoint = save_checkpoint(tmp_path / "model.pt", build_model(config), config)
    out = tmp_path / "report"
    command = [sys.executable, "jobs/evaluate.py", "--model", str(checkpoint), "--collection", str(collection),
               "--split", "test", "--out", str(out), "--samples", "0", "1"]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader((out / "per_image.csv").read_text().splitlines()))
    assert len(rows) == 2 and set(rows[0]) == {
        "patch_id",
        "cloud_cover",
        "psnr",
        "mae",
        "ssim",
        "sam",
        "raw_psnr",
        "raw_mae",
        "raw_ssim",
        "raw_sam",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mean"]["images"] == 2 and len(summary["cover_bins"]) == 10
    assert summary["mean"]["psnr"] == pytest.approx(sum(float(r["psnr"]) for r in rows) / 2)
    assert "Median per cloud-cover bin" in (out / "summary.md").read_text()
    for picture in ("cover_bins.png", "samples.png"):
        assert (out / picture).stat().st_size > 5_000


def test_comparison_tables_from_stored_results(tmp_path):
    from equicr.evaluation.compare import comparison_tables, load_runs, write_comparison
    from equicr.evaluation.report import write_report

    runs = []
    for row, column, psnr in [("EquiCR", "sar+opt", 32.0), ("DSen2-CR", "sar+opt", 31.0), ("EquiCR", "opt", 29.0)]:
        folder = tmp_path / f"{row}-{column}"
        write_report([record(0.5, psnr), record(0.95, psnr + 2)], folder, f"{row} {column}")
        runs.append((row, column, str(folder)))
    summaries = load_runs(runs)
    tables = comparison_tables(summaries, corner="architecture")
    assert "| architecture | sar+opt | opt |" in tables
    assert "| EquiCR | 33.0000 | 30.0000 |" in tables and "| DSen2-CR | 32.0000 | - |" in tables
    path = write_comparison(summaries, tmp_path / "table", "Table I", corner="architecture")
    assert path.read_text().startswith("# Table I") and (tmp_path / "table" / "cover_bins.png").stat().st_size > 5_000
    with pytest.raises(FileNotFoundError, match="run jobs/evaluate.py for EquiCR / sar"):
        load_runs([("EquiCR", "sar", str(tmp_path / "missing"))])


def test_evaluation_scores_exactly_what_decloud_writes(tmp_path):
    """The scored image is decloud's output of the patch (post-processing included), to the DN; raw is the network."""
    import numpy as np

    from equicr.data.collection import open_collection
    from equicr.decloud.pipeline import decloud_whole_image
    from equicr.evaluation.scoring import PatchScorer
    from equicr.paths import SHIPPED_MODEL

    collection = write_synthetic_patches(tmp_path / "patches.zarr", count=12, size=48, seed=5)
    scorer = PatchScorer(str(SHIPPED_MODEL), str(collection), "test", precision="fp32")
    sample = scorer.dataset[0]
    cloudy = open_collection(collection, "patches")["s2_cloudy"][sample["index"]]
    raw = scorer.predictor.predict(sample["inputs"].numpy()[None])
    written = scorer.written_dn(raw, cloudy[None])[0]
    expected = decloud_whole_image(SHIPPED_MODEL, None, cloudy)  # what jobs/decloud.py writes for this image
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1
    raw_dn = decloud_whole_image(SHIPPED_MODEL, None, cloudy, postprocessing="raw")
    assert (written != raw_dn).any()  # the post-processing changed something: both numbers mean something
    batch = scorer({"position": np.array([0])})
    assert batch["psnr"][0] != batch["raw_psnr"][0]
