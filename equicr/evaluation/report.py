"""Write the evaluation report of per-image metrics (see :mod:`equicr.evaluation.scoring`).

Files written to the output folder: ``per_image.csv`` (one row per patch), ``summary.json`` and
``summary.md`` (means, and medians per cloud-cover bin), ``cover_bins.png`` (median PSNR and SSIM
per bin, the paper's Fig. 3) and ``samples.png`` (cloudy input, SAR, prediction, target).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

from equicr.bands import has_sar_input, optical_channels, sar_channels
from equicr.data.collection import collection_has_sar
from equicr.data.dataset import PatchDataset
from equicr.deploy.predictors import load_predictor
from equicr.errors import UserError
from equicr.evaluation.aggregate import (
    METRICS,
    RAW_PREFIX,
    RECORD_COLUMNS,
    cover_bin_medians,
    markdown_table,
    mean_of_records,
)  # fmt: skip
from equicr.plots import plot_cover_bins, sar_false_colour, save_panels, true_colour
from equicr.scaling import network_to_optical_dn, network_to_sar_db
from equicr.storage import atomic_output, write_json, write_text

#: Panels show both sensors whatever the model's input mode.
BOTH_SENSORS = "sar+opt"


def write_report(
    records: list[dict], out: str | Path, title: str, figures: Callable[[Path], object] | None = None
) -> dict:
    """Write the report folder ``out`` whole: CSV, Markdown, the cover-bin chart, ``summary.json``.

    ``figures(folder)`` may draw more into the folder (the sample panels). Everything is written to
    a temporary folder that replaces ``out`` in one rename, so a report is whole or absent: a killed
    rewrite leaves the old report as it was, never new tables beside an old model's summary, and
    ``summary.json`` in ``out`` marks a finished report that a rerun may skip. A folder that is not
    a report (files, but no ``summary.json``) is refused rather than replaced.
    """
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").is_file():
        raise UserError(f"{out} holds files but no evaluation report (no summary.json); choose a new or empty folder")
    with atomic_output(out) as folder:
        folder.mkdir()
        summary = _write_report_files(records, folder, title)
        if figures is not None:
            figures(folder)
    return summary


def _write_report_files(records: list[dict], out: Path, title: str) -> dict:
    with_raw = bool(records) and all(RAW_PREFIX + METRICS[0] in record for record in records)
    columns = RECORD_COLUMNS if with_raw else RECORD_COLUMNS[: 2 + len(METRICS)]
    with open(out / "per_image.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)
    summary = {"title": title, "mean": mean_of_records(records), "cover_bins": cover_bin_medians(records)}
    rows = [{"output": "what declouding writes", **summary["mean"]}]
    if with_raw:
        summary["raw_mean"] = mean_of_records(records, RAW_PREFIX)
        rows.append({"output": "the network alone (raw)", **summary["raw_mean"]})
    markdown = [
        f"# {title}",
        "",
        "Mean over images:",
        "",
        markdown_table(rows, ["output", "images", *METRICS]),
        "",
        "Median per cloud-cover bin (s2cloudless cover of the cloudy input):",
        "",
        markdown_table(summary["cover_bins"], ["bin", "images", *METRICS]),
        "",
    ]
    write_text(out / "summary.md", "\n".join(markdown))
    plot_cover_bins({title: summary["cover_bins"]}, out / "cover_bins.png")
    write_json(out / "summary.json", summary)
    return summary


def read_summary(folder: str | Path) -> dict:
    """A finished report's ``summary.json``, with the ``null`` of an empty bin read back as NaN.

    On disk a missing value is strict JSON's ``null``; in memory it is NaN, as aggregation makes it.
    """
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the evaluation behind it has not finished")
    summary = json.loads(path.read_text())
    for key in ("mean", "raw_mean"):
        if key in summary:
            summary[key] = {k: math.nan if v is None else v for k, v in summary[key].items()}
    summary["cover_bins"] = [{k: math.nan if v is None else v for k, v in row.items()} for row in summary["cover_bins"]]
    return summary


def save_samples(model: str | Path, collection: str | Path, split: str, indices: list[int], path: Path) -> Path:
    """Panels of cloudy input, SAR (where the model reads it), prediction and target for chosen samples (Fig. 2)."""
    predictor = load_predictor(model)
    everything = PatchDataset(collection, split, input_mode=BOTH_SENSORS)
    mode_inputs = PatchDataset(collection, split, input_mode=predictor.reference.input_mode)
    with_sar = collection_has_sar(collection) and has_sar_input(predictor.reference.input_mode)  # what it read
    rows, titles = [], []
    for index in indices:
        sample, inputs = everything[index], mode_inputs[index]["inputs"][None].numpy()
        both = sample["inputs"].numpy()
        row = {"cloudy input": true_colour(network_to_optical_dn(both[optical_channels(BOTH_SENSORS)]))}
        if with_sar:  # optical-only pairs hold no SAR to show
            row["SAR (VV)"] = sar_false_colour(network_to_sar_db(both[sar_channels(BOTH_SENSORS)]))
        row["prediction"] = true_colour(network_to_optical_dn(predictor.predict(inputs))[0])
        row["cloud-free target"] = true_colour(network_to_optical_dn(sample["target"].numpy()))
        rows.append(row)
        titles.append(f"{sample['patch_id']} (cover {sample['cloud_cover']:.0%})")
    return save_panels(path, rows, titles)
