"""Side-by-side comparison of evaluated runs in the paper's layouts.

Each run is an evaluation report folder (``summary.json``) labelled with a row and a column, for
example architecture x input mode (Table I) or architecture x training-set size (Table II). The
comparison is one Markdown table per metric and the Fig. 3 chart with every run's cover-bin medians.
"""

from __future__ import annotations

from pathlib import Path

from equicr.evaluation.aggregate import METRICS, markdown_table
from equicr.evaluation.report import read_summary
from equicr.plots import plot_cover_bins
from equicr.storage import write_text

METRIC_TITLES = {"psnr": "PSNR (dB, higher is better)", "mae": "MAE (lower is better)",
                 "ssim": "SSIM (higher is better)", "sam": "SAM (degrees, lower is better)"}  # fmt: skip


def load_runs(runs: list[tuple[str, str, str | Path]]) -> dict[tuple[str, str], dict]:
    """Summaries of (row label, column label, report folder) triples, keyed by (row, column)."""
    loaded = {}
    for row, column, folder in runs:
        try:
            loaded[(row, column)] = read_summary(folder)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{error}; run jobs/evaluate.py for {row} / {column} first") from error
    return loaded


def comparison_tables(summaries: dict[tuple[str, str], dict], corner: str = "") -> str:
    """One Markdown table per metric: rows and columns in first-seen order, missing cells as dashes."""
    rows = list(dict.fromkeys(row for row, _ in summaries))
    columns = list(dict.fromkeys(column for _, column in summaries))
    sections = []
    for metric in METRICS:
        table_rows = [
            {
                corner: row,
                **{c: summaries[(row, c)]["mean"][metric] if (row, c) in summaries else float("nan") for c in columns},
            }
            for row in rows
        ]
        sections.append(f"### {METRIC_TITLES[metric]}\n\n" + markdown_table(table_rows, [corner, *columns]))
    return "\n\n".join(sections) + "\n"


def write_comparison(summaries: dict[tuple[str, str], dict], out: str | Path, title: str, corner: str = "") -> Path:
    """Write ``comparison.md`` and ``cover_bins.png`` (every run) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "comparison.md", f"# {title}\n\n" + comparison_tables(summaries, corner))
    plot_cover_bins(
        {f"{row} / {column}": s["cover_bins"] for (row, column), s in summaries.items()}, out / "cover_bins.png"
    )
    return out / "comparison.md"
