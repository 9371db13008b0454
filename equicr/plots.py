"""Pictures a person would rather look at than read: true-colour panels of inputs, predictions and targets."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from equicr.bands import S1_BANDS, S2_BANDS, S2_RGB_BANDS, band_indices  # noqa: E402
from equicr.scaling import OPTICAL_DN_MAX, SAR_DB_RANGE  # noqa: E402

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
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
