"""Evaluation reports are whole or absent: a killed rewrite keeps the old report, never a mix of two."""

import json

import pytest

from equicr.evaluation import report as report_module
from equicr.evaluation.report import read_summary, write_report


def records(psnr):
    return [{"patch_id": f"p{i}", "cloud_cover": 0.1 * i, "psnr": psnr, "mae": 0.01, "ssim": 0.9, "sam": 3.0}
            for i in range(4)]  # fmt: skip


def test_a_report_folder_is_written_whole(tmp_path):
    out = tmp_path / "eval"
    summary = write_report(records(30.0), out, "old model", figures=lambda folder: (folder / "samples.png").touch())
    assert sorted(p.name for p in out.iterdir()) == [
        "cover_bins.png", "per_image.csv", "samples.png", "summary.json", "summary.md",
    ]  # fmt: skip
    assert read_summary(out)["mean"]["psnr"] == summary["mean"]["psnr"] == 30.0


def test_a_rewrite_killed_midway_leaves_the_old_report_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "eval"
    write_report(records(30.0), out, "old model")
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill arrives after the CSV and the Markdown were written

    monkeypatch.setattr(report_module, "plot_cover_bins", killed)
    with pytest.raises(KeyboardInterrupt):
        write_report(records(12.0), out, "new model")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]  # no temporary left behind
    assert json.loads((out / "summary.json").read_text())["title"] == "old model"


def test_a_folder_that_is_not_a_report_is_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files but no evaluation report"):
        write_report(records(30.0), tmp_path, "model")
    assert (tmp_path / "notes.txt").read_text() == "mine"
