"""Gains under thick and thin cloud apart: what a model adds over leaving the clouds in, per kind of cloud.

A test bench has the clear date, so every pixel of a cloudy image can be put in a class by how
much the cloud brightened it: the mean excess reflectance of the visible bands B02-B04, cloudy
minus clear. ``thick``: at least :data:`THICK_EXCESS` (the ground is mostly hidden: a thick
cloud's top reflects 0.3 and more, farmland and forest 0.03-0.1); ``thin``: from
:data:`THIN_EXCESS` up to ``THICK_EXCESS`` (the ground shows through); ``clear``: below
``THIN_EXCESS``. The classes are a definition for scoring, not a cloud product: a real change
between the two dates (a harvested field) counts as cloud too.

For each class and each image with at least :data:`MIN_CLASS_FRACTION` of its valid pixels in
it, PSNR over those pixels of the cloudy input, of what declouding writes and of the network
alone; :func:`thickness_scores` gives the means over images. The model card states them and
``bench/cloud_thickness.py`` prints them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equicr.bands import S2_BANDS
from equicr.metrics import DATA_RANGE, PSNR_CAP_DB
from equicr.scaling import network_to_reflectance

#: Excess visible reflectance (cloudy minus clear, mean of B02-B04) from which a pixel counts as thick cloud.
THICK_EXCESS = 0.2
#: Excess from which a pixel counts as cloud at all (thin, up to THICK_EXCESS).
THIN_EXCESS = 0.03
#: Share of an image's valid pixels a class needs for the image to count in that class.
MIN_CLASS_FRACTION = 0.02
CLASSES = ("thick", "thin", "clear")
#: The outputs scored per class: leaving the clouds in, what declouding writes, the network alone.
OUTPUTS = ("cloudy", "written", "raw")
_VISIBLE = [S2_BANDS.index(band) for band in ("B02", "B03", "B04")]


def thickness_classes(cloudy: np.ndarray, clear: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks (H, W) of thick cloud, thin cloud and clear ground from the cloudy and clear reflectance."""
    excess = (cloudy[_VISIBLE] - clear[_VISIBLE]).mean(0)
    return {"thick": excess >= THICK_EXCESS, "thin": (excess >= THIN_EXCESS) & (excess < THICK_EXCESS),
            "clear": excess < THIN_EXCESS}  # fmt: skip


def masked_psnr(output: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB over the pixels ``where`` of all bands of two reflectance images (13, H, W), capped as the metrics."""
    difference = output[:, where].astype(np.float64) - target[:, where]
    rmse = float(np.sqrt(np.mean(difference**2)))
    return PSNR_CAP_DB if rmse == 0 else min(PSNR_CAP_DB, 20 * np.log10(DATA_RANGE / rmse))


def thickness_scores(model: str | Path, collection: str | Path, split: str = "test") -> dict[str, dict]:
    """Per class: images counted, mean pixel share, and mean PSNR of each of :data:`OUTPUTS` over the class's pixels."""
    from equicr.evaluation.scoring import SCORE_BATCH, PatchScorer

    scorer = PatchScorer(model, str(collection), split)
    scored = {name: [] for name in CLASSES}
    for start in range(0, len(scorer.dataset), SCORE_BATCH):
        batch = scorer.outputs(np.arange(start, min(start + SCORE_BATCH, len(scorer.dataset))))
        images = {key: network_to_reflectance(batch[key]) for key in ("target", *OUTPUTS)}
        for i in range(len(batch["patch_id"])):
            for name, where in thickness_classes(images["cloudy"][i], images["target"][i]).items():
                where = where & batch["valid"][i]
                if where.mean() >= MIN_CLASS_FRACTION:
                    scored[name].append(
                        {
                            "share": float(where.mean()),
                            **{key: masked_psnr(images[key][i], images["target"][i], where) for key in OUTPUTS},
                        }
                    )
    return {name: {"images": len(rows), **{key: float(np.mean([row[key] for row in rows])) if rows else float("nan")
                                           for key in ("share", *OUTPUTS)}}
            for name, rows in scored.items()}  # fmt: skip
