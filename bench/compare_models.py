"""Models side by side on the real test bench: what decloud writes and the network alone, with SAM split by cloud.

    python bench/compare_models.py NAME=MODEL [NAME=MODEL ...] [--root ../shared/data]

For each model and test-bench collection (25 real-cloud pairs, 12 triplets, 19 do-no-harm pairs,
unseen Virginia land): PSNR, SSIM and SAM of what ``jobs/decloud.py`` writes (default
post-processing) and of the network alone, and the network's SAM under cloud and on clear ground
(bench/spectrum.py). Used to say which training change moved SAM (docs/evaluation.md). Prints a
table, writes bench/results/compare_models.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchlib import SHARED_DATA_DIR, print_table, write_results
from postprocessing import collection_cases
from spectrum import sam_by_cloudiness

from equicr.data.real import load_real_data
from equicr.deploy.predictors import load_predictor
from equicr.evaluation.aggregate import RAW_PREFIX, mean_of_records
from equicr.evaluation.scoring import evaluate_split
from equicr.ingest.geotiffs import write_test_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="NAME=MODEL (checkpoint, run folder or .onnx)")
    parser.add_argument("--root", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    models = dict(item.split("=", 1) for item in args.models)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(load_real_data(args.root), Path(work))
        for name, model in models.items():
            predictor = load_predictor(model, "cpu", "fp32")
            for collection, location in bench.items():
                records = evaluate_split(model, location, progress=False)
                written, raw = mean_of_records(records), mean_of_records(records, RAW_PREFIX)
                angles = sam_by_cloudiness(collection_cases(predictor, location, "test"), "prediction")
                rows.append({
                    "model": name, "set": collection, "psnr": written["psnr"], "ssim": written["ssim"],
                    "sam": written["sam"], "raw psnr": raw["psnr"], "raw ssim": raw["ssim"], "raw sam": raw["sam"],
                    "raw sam cloud": angles["cloud"], "raw sam clear": angles["clear"],
                })  # fmt: skip
    print_table(rows, list(rows[0]))
    write_results("compare_models", {"models": models, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
