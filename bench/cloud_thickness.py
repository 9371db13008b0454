"""Thick cloud and thin cloud apart: how much a model gains over leaving the clouds in, under each.

    python bench/cloud_thickness.py [--model equicr/assets/models/real-best.pt]

On the real test bench's cloudy images (25 real-cloud pairs and 12 triplets) every pixel is put in
a class by how much the cloud brightened it against the clear date (thick, thin, clear; the
definition and thresholds are :mod:`equicr.evaluation.thickness`'s). Per class: the images with
enough of it, and the mean PSNR over its pixels of the cloudy input, of what ``jobs/decloud.py``
writes (default post-processing) and of the network alone; the gain is written minus cloudy.
Prints a table per set, writes bench/results/cloud_thickness.json; the targets (thick cloud
+6 dB, thin cloud +3 dB) are judged on it, and the model card states the same numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlib import print_table, real_bench_parser, write_results

from equicr.data.real import REAL_CLOUDS, TRIPLETS, load_real_data
from equicr.evaluation.thickness import MIN_CLASS_FRACTION, THICK_EXCESS, THIN_EXCESS, thickness_scores
from equicr.ingest.geotiffs import write_test_bench
from equicr.postprocessing import DEFAULT_POSTPROCESSING


def main() -> None:
    parser = real_bench_parser(__doc__)
    args = parser.parse_args()
    results = {"model": args.model, "postprocessing": DEFAULT_POSTPROCESSING, "thick_excess": THICK_EXCESS,
               "thin_excess": THIN_EXCESS, "min_class_fraction": MIN_CLASS_FRACTION, "sets": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(load_real_data(args.root), Path(work) / "bench")
        for name in (REAL_CLOUDS, TRIPLETS):
            scores = thickness_scores(args.model, bench[name])
            rows = [{"class": kind, **row, "gain written": row["written"] - row["cloudy"],
                     "gain raw": row["raw"] - row["cloudy"]} for kind, row in scores.items()]  # fmt: skip
            print(f"\n{name}: PSNR (dB) over each class's pixels, mean over the images that have it")
            print_table(rows, list(rows[0]))
            results["sets"][name] = rows
    write_results("cloud_thickness", results, args.out)


if __name__ == "__main__":
    main()
