r"""Evaluate a checkpoint or ONNX file on a split of a patches collection and write its report.

    python jobs/evaluate.py --model runs/equicr-demo --collection data/synthetic-default.zarr --split val \
        --out outputs/eval

Writes per_image.csv, summary.json, summary.md, cover_bins.png (median metrics per cloud-cover bin,
the paper's Fig. 3) and samples.png (cloudy input, SAR, prediction, target) to --out.

Compare evaluated runs side by side (Table I: architecture x input mode; Table II: x training-set size):

    python jobs/evaluate.py --compare EquiCR sar+opt outputs/a --compare DSen2-CR sar+opt outputs/b \
        --out outputs/table1 --title "Table I"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.data.collection import CollectionError
from equicr.evaluation.report import save_samples, write_report
from equicr.evaluation.scoring import CLOUDY_INPUT, RAY_MIN_PATCHES, evaluate_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", help=f"checkpoint, run folder, .onnx file, or {CLOUDY_INPUT!r} for the cloudy-input baseline"
    )
    parser.add_argument("--collection", help="patches collection")
    parser.add_argument(
        "--compare", nargs=3, action="append", metavar=("ROW", "COLUMN", "REPORT_DIR"),
        help="compare evaluated runs instead: a row label, a column label and a report folder (repeat)",
    )  # fmt: skip
    parser.add_argument("--split", default="test", choices=["train", "val", "test"], help="(default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--title", help="report title (default: model and split)")
    parser.add_argument(
        "--ray",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"score on a Ray Data actor pool (default: when the split has {RAY_MIN_PATCHES} patches or more)",
    )
    parser.add_argument("--actors", type=int, default=1, help="Ray Data scoring actors (default: %(default)s)")
    parser.add_argument("--cpus-per-actor", type=int, default=1, help="cores (torch threads) per scoring actor")
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="GPUs per scoring actor (default: CPU)")
    parser.add_argument("--samples", type=int, nargs="*", default=[0, 1, 2, 3], help="sample indices to draw")
    args = parser.parse_args(argv)
    if args.compare:
        from equicr.evaluation.compare import load_runs, write_comparison

        try:
            path = write_comparison(load_runs(args.compare), args.out, args.title or "Comparison")
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(path.read_text())
        return 0
    if not (args.model and args.collection):
        parser.error("--model and --collection are required (or use --compare)")
    try:
        records = evaluate_split(
            args.model,
            args.collection,
            args.split,
            args.ray,
            args.actors,
            args.gpus_per_actor,
            cpus_per_actor=args.cpus_per_actor,
        )
        summary = write_report(records, args.out, args.title or f"{args.model} on {args.split}")
        chosen = [i for i in args.samples if i < len(records)]
        if chosen:
            save_samples(args.model, args.collection, args.split, chosen, args.out / "samples.png")
    except (FileNotFoundError, CollectionError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((args.out / "summary.md").read_text())
    print(f"report written to {args.out} ({summary['mean']['images']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
