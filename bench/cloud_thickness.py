"""Thick cloud and thin cloud apart: how much a model gains over leaving the clouds in, under each.

    python bench/cloud_thickness.py [--model equicr/assets/models/real-best.pt]

On the real test bench's cloudy images (25 real-cloud pairs and 12 triplets) every pixel is put in
a class by how much the cloud brightened it against the clear date: the mean excess reflectance
of the visible bands B02-B04, cloudy minus clear. ``thick``: at least THICK_EXCESS (the ground is
mostly hidden: a thick cloud's top reflects 0.3 and more, farmland and forest 0.03-0.1); ``thin``:
from THIN_EXCESS up to THICK_EXCESS (the ground shows through); ``clear``: below THIN_EXCESS. The
classes are a definition made with the clear date, which only a test bench has; they are not a
cloud product.

For each class and each image with at least MIN_CLASS_FRACTION of its pixels in it: PSNR over
those pixels of the cloudy input, of what ``jobs/decloud.py`` writes (default post-processing)
and of the network alone, against the clear date; the gain is written minus cloudy. Prints a
table (mean over images), writes bench/results/cloud_thickness.json; the model card's targets
(thick cloud +6 dB, thin cloud +3 dB) are judged on it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from benchlib import SHARED_DATA_DIR, print_table, write_results
from postprocessing import collection_cases

from equicr.bands import S2_BANDS
from equicr.data.real import REAL_CLOUDS, TRIPLETS, load_real_data
from equicr.deploy.predictors import load_predictor
from equicr.ingest.geotiffs import write_test_bench
from equicr.metrics import PSNR_CAP_DB
from equicr.paths import SHIPPED_MODEL
from equicr.postprocessing import DEFAULT_POSTPROCESSING, combine
from equicr.scaling import optical_dn_to_reflectance

#: Excess visible reflectance (cloudy minus clear, mean of B02-B04) from which a pixel counts as thick cloud.
THICK_EXCESS = 0.2
#: Excess from which a pixel counts as (thin) cloud at all.
THIN_EXCESS = 0.03
#: Share of an image's pixels a class needs for the image to count in that class.
MIN_CLASS_FRACTION = 0.02
VISIBLE = [S2_BANDS.index(band) for band in ("B02", "B03", "B04")]
CLASSES = ("thick", "thin", "clear")


def thickness_classes(cloudy: np.ndarray, clear: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks (H, W) of thick cloud, thin cloud and clear ground, from the cloudy and the clear DN."""
    excess = (optical_dn_to_reflectance(cloudy[VISIBLE]) - optical_dn_to_reflectance(clear[VISIBLE])).mean(0)
    return {"thick": excess >= THICK_EXCESS, "thin": (excess >= THIN_EXCESS) & (excess < THICK_EXCESS),
            "clear": excess < THIN_EXCESS}  # fmt: skip


def masked_psnr(output: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB over the pixels ``where`` of every band, in reflectance as the metrics compute it."""
    a, b = optical_dn_to_reflectance(output)[:, where], optical_dn_to_reflectance(target)[:, where]
    rmse = float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))
    return PSNR_CAP_DB if rmse == 0 else min(PSNR_CAP_DB, 20 * np.log10(1.0 / rmse))


def class_rows(cases: list[dict]) -> list[dict]:
    """Per class: images, mean pixel share, PSNR of cloudy, written and raw, and the gains."""
    scored = {name: [] for name in CLASSES}
    for c in cases:
        written = combine(c["prediction"], c["cloudy"], c["valid"], DEFAULT_POSTPROCESSING, c["probability"],
                          c["mask"])  # fmt: skip
        for name, where in thickness_classes(c["cloudy"], c["target"]).items():
            where = where & c["valid"]
            if where.mean() < MIN_CLASS_FRACTION:
                continue
            scored[name].append(
                {
                    "share": float(where.mean()),
                    **{
                        key: masked_psnr(output, c["target"], where)
                        for key, output in (("cloudy", c["cloudy"]), ("written", written), ("raw", c["prediction"]))
                    },
                }
            )
    rows = []
    for name, images in scored.items():
        if not images:
            continue
        mean = {key: float(np.mean([image[key] for image in images])) for key in images[0]}
        rows.append({"class": name, "images": len(images), "pixel share": mean["share"], "cloudy": mean["cloudy"],
                     "written": mean["written"], "raw": mean["raw"], "gain written": mean["written"] - mean["cloudy"],
                     "gain raw": mean["raw"] - mean["cloudy"]})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--root", type=Path, default=SHARED_DATA_DIR, help="the shared real-data folder")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    predictor = load_predictor(args.model, "cpu", "fp32")
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(load_real_data(args.root), Path(work) / "bench")
        cases = {name: collection_cases(predictor, bench[name], "test") for name in (REAL_CLOUDS, TRIPLETS)}
    results = {"model": args.model, "postprocessing": DEFAULT_POSTPROCESSING, "thick_excess": THICK_EXCESS,
               "thin_excess": THIN_EXCESS, "min_class_fraction": MIN_CLASS_FRACTION, "sets": {}}  # fmt: skip
    for name, group in (*cases.items(), ("both", [c for cs in cases.values() for c in cs])):
        rows = class_rows(group)
        print(f"\n{name}: {len(group)} images; PSNR (dB) over each class's pixels, mean over images")
        print_table(rows, list(rows[0]))
        results["sets"][name] = {"images": len(group), "classes": rows}
    write_results("cloud_thickness", results, args.out)


if __name__ == "__main__":
    main()
