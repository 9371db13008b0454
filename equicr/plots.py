"""Pictures a person would rather look at than read: every plot the package draws is drawn here.

True-colour and SAR panels of inputs, predictions and targets, and the paper's Fig. 3 (median
metrics per cloud-cover bin). Files only (the Agg backend): servers have no display.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from equicr.bands import S1_BANDS, S2_BANDS, S2_RGB_BANDS, band_indices  # noqa: E402
from equicr.scaling import OPTICAL_DN_MAX, SAR_DB_RANGE  # noqa: E402
from equicr.storage import atomic_output  # noqa: E402

#: Reflectance shown as white in true-colour images (typical land is dark at full scale).
TRUE_COLOUR_WHITE = 0.3


def true_colour(dn: np.ndarray) -> np.ndarray:
    """Sentinel-2 DN (13, H, W) to an RGB image (H, W, 3) in [0, 1] from B04, B03, B02."""
    rgb = dn[band_indices(S2_RGB_BANDS, S2_BANDS)].astype(np.float32) / OPTICAL_DN_MAX
    return np.clip(np.moveaxis(rgb, 0, -1) / TRUE_COLOUR_WHITE, 0, 1)


def sar_false_colour(db: np.ndarray) -> np.ndarray:
    """Sentinel-1 dB (2, H, W) to a grey image (H, W) of VV in [0, 1] over the network's VV range."""
    lower, upper = SAR_DB_RANGE["VV"]
    return np.clip((db[band_indices(("VV",), S1_BANDS)[0]] - lower) / (upper - lower), 0, 1)


def save_panels(path: str | Path, rows: list[dict[str, np.ndarray]], titles: list[str] | None = None) -> Path:
    """One row per sample, one column per named image (RGB (H, W, 3) or grey (H, W)); writes a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(2.6 * len(columns), 2.6 * len(rows)), squeeze=False)
    for row_index, row in enumerate(rows):
        for column_index, name in enumerate(columns):
            axis = axes[row_index][column_index]
            image = row[name]
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            if row_index == 0:
                axis.set_title(name, fontsize=10)
        if titles:
            axes[row_index][0].set_ylabel(titles[row_index], fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def plot_cover_bins(runs: dict[str, list[dict]], path: Path) -> Path:
    """Grouped bars of median PSNR and SSIM per cloud-cover bin, one colour per run."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    labels = [row["bin"] for row in next(iter(runs.values()))]
    width = 0.8 / len(runs)
    for axis, metric, unit in ((axes[0], "psnr", "dB"), (axes[1], "ssim", "")):
        for offset, (name, rows) in enumerate(runs.items()):
            positions = np.arange(len(labels)) + (offset - (len(runs) - 1) / 2) * width
            axis.bar(positions, [row[metric] for row in rows], width, label=name)
        axis.set_xticks(np.arange(len(labels)), labels, rotation=45, fontsize=8)
        axis.set_xlabel("cloud cover of the input")
        axis.set_ylabel(f"median {metric.upper()} {unit}".strip())
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Save ``figure`` to ``path`` atomically (a killed save never leaves half an image) and close it."""
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(figure)
