r"""Evaluate a checkpoint or ONNX file on a split of a patches collection and write its report.

    equicr evaluate --model runs/equicr-demo --collection data/composites-default.zarr --split val \
        --out outputs/eval

Scores what jobs/decloud.py writes (the prediction after the same --postprocessing) and, beside it,
the network alone. Writes per_image.csv, summary.json, summary.md, cover_bins.png (median metrics per cloud-cover bin,
the paper's Fig. 3) and samples.png (cloudy input, SAR, prediction, target) to --out.

Compare evaluated runs side by side (Table I: architecture x input mode; Table II: x training-set size):

    equicr evaluate --compare EquiCR sar+opt outputs/a --compare DSen2-CR sar+opt outputs/b \
        --out outputs/table1 --title "Table I"
"""

from __future__ import annotations

from pathlib import Path

from equicr.cli import actor_pool_from_args, add_actor_pool_options, parser_for
from equicr.executors import AUTO_RAY_MIN_ITEMS
from equicr.models import CLOUDY_INPUT, PRECISION_CHOICES
from equicr.postprocessing import DEFAULT_POSTPROCESSING, POSTPROCESSING


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
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
    parser.add_argument("--samples", type=int, nargs="*", default=[0, 1, 2, 3], help="sample indices to draw")
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="auto",
        help="checkpoints: fp32, bf16, or auto (default): bfloat16 only where the device computes it natively",
    )  # fmt: skip
    parser.add_argument(
        "--postprocessing", choices=POSTPROCESSING, default=DEFAULT_POSTPROCESSING,
        help="score what jobs/decloud.py writes with this post-processing (default: %(default)s, decloud's own); "
        "the report shows the network alone (raw) beside it",
    )  # fmt: skip
    add_actor_pool_options(parser, ray_default=f"when the split has {AUTO_RAY_MIN_ITEMS} patches or more")
    args = parser.parse_args(argv)
    if args.compare:
        from equicr.evaluation.compare import load_runs, write_comparison

        path = write_comparison(load_runs(args.compare), args.out, args.title or "Comparison")
        print(path.read_text())
        return 0
    if not (args.model and args.collection):
        parser.error("--model and --collection are required (or use --compare)")

    from equicr.data.dataset import PatchDataset
    from equicr.evaluation.report import save_samples, write_report
    from equicr.evaluation.scoring import evaluate_split
    from equicr.storage import redact

    pool = actor_pool_from_args(
        args, ray_by_default=len(PatchDataset(args.collection, args.split)) >= AUTO_RAY_MIN_ITEMS
    )
    records = evaluate_split(
        args.model, args.collection, args.split, pool, precision=args.precision, postprocessing=args.postprocessing
    )
    chosen = [i for i in args.samples if i < len(records)]

    def samples(folder: Path) -> None:
        if chosen:
            save_samples(args.model, args.collection, args.split, chosen, folder / "samples.png")

    summary = write_report(records, args.out, args.title or f"{redact(args.model)} on {args.split}", samples)
    print((args.out / "summary.md").read_text())
    print(f"report written to {args.out} ({summary['mean']['images']} images)")
    return 0
