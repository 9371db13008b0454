"""Aggregating per-image metrics: means over a split and medians per cloud-cover bin.

Cloud-cover bins are the paper's Fig. 3: ten bins 0-10% ... 90-100%, each closed on the left and
open on the right except the last, which includes 100% (fully covered patches). An empty bin
reports a count of 0 and NaN medians rather than disappearing, so tables keep their shape.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from equicr.errors import UserError
from equicr.metrics import HIGHER_IS_BETTER, mean_metrics

#: Edges of the cloud-cover bins, as fractions.
COVER_BIN_EDGES = np.linspace(0.0, 1.0, 11)
METRICS = tuple(HIGHER_IS_BETTER)
#: Per-image records carry the metrics of what declouding writes, and of the network alone under this prefix.
RAW_PREFIX = "raw_"
RECORD_COLUMNS = ["patch_id", "cloud_cover", *METRICS, *(RAW_PREFIX + name for name in METRICS)]


def cover_bin_index(cover: float) -> int:
    """Bin of a cloud-cover fraction in [0, 1]; 1.0 belongs to the last bin."""
    if not 0.0 <= cover <= 1.0:
        raise UserError(f"cloud cover must lie in [0, 1], got {cover}")
    return min(int(np.searchsorted(COVER_BIN_EDGES, cover, side="right")) - 1, len(COVER_BIN_EDGES) - 2)


def cover_bin_label(index: int) -> str:
    """'0-10%' ... '90-100%'."""
    return f"{round(COVER_BIN_EDGES[index] * 100)}-{round(COVER_BIN_EDGES[index + 1] * 100)}%"


def mean_of_records(records: list[dict], prefix: str = "") -> dict[str, float]:
    """Mean of each metric over per-image records, with the image count (see :func:`equicr.metrics.mean_metrics`).

    ``prefix`` :data:`RAW_PREFIX` gives the network alone's means (keyed without the prefix).
    """
    per_image = {name: torch.tensor([r[prefix + name] for r in records], dtype=torch.float64) for name in METRICS}
    return {**mean_metrics(per_image), "images": len(records)}


def cover_bin_medians(records: list[dict]) -> list[dict]:
    """One row per cloud-cover bin: label, image count, and the median of each metric (NaN when empty)."""
    rows = []
    for index in range(len(COVER_BIN_EDGES) - 1):
        members = [r for r in records if cover_bin_index(r["cloud_cover"]) == index]
        row = {"bin": cover_bin_label(index), "images": len(members)}
        for name in METRICS:
            row[name] = float(np.median([r[name] for r in members])) if members else math.nan
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], columns: list[str], digits: int = 4) -> str:
    """A Markdown table of ``rows`` with the given columns; floats rounded, NaN shown as a dash."""

    def cell(value) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
