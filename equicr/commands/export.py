"""Export a trained checkpoint to ONNX, verify the file, and write the verification report.

    equicr export --checkpoint runs/equicr-demo --out equicr.onnx

The file is exported and verified in a folder of this run's own, and only a file that passes is
put at ``--out`` (a path or a URI), with its report beside it (``<name>.verification.json``, naming
the file's SHA-256: decloud refuses an ONNX file without a passing report for its exact bytes).
When verification fails, ``--out`` is left as it was, the failed file and report are kept aside
for inspection, and the exit code is 1.
"""

from __future__ import annotations

import sys

from equicr.cli import add_real_patch_options, parser_for
from equicr.deploy.metadata import FILTER_FORMS, REDUCED_PRECISIONS, WEIGHT_DTYPES


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file or run folder (its best checkpoint); path or URI"
    )
    parser.add_argument("--out", required=True, help="ONNX file to write: a path, or a URI to upload it to")
    parser.add_argument(
        "--filters", choices=FILTER_FORMS, default="basis",
        help="EquiCR: store basis coefficients and expand in the graph (default, ~6x smaller) or expanded filters",
    )  # fmt: skip
    parser.add_argument("--weights-dtype", choices=WEIGHT_DTYPES, default="float32", help="stored weight precision")
    parser.add_argument(
        "--reduced", nargs="+", choices=REDUCED_PRECISIONS, default=[], metavar="PRECISION",
        help="also export reduced-precision files beside OUT (NAME.int8.onnx: static INT8, calibrated on the real "
        "patches; NAME.float16.onnx: for CUDA), each verified against the float32 file; decloud --precision auto "
        "runs the one the device computes natively",
    )  # fmt: skip
    add_real_patch_options(parser)
    args = parser.parse_args(argv)

    from equicr.checkpoint import load_model, resolve_checkpoint
    from equicr.deploy.gate import export_and_publish
    from equicr.storage import local_path, redact

    checkpoint_file = local_path(resolve_checkpoint(args.checkpoint))
    print(f"exporting {redact(args.checkpoint)}")
    model, checkpoint = load_model(checkpoint_file)
    outcome = export_and_publish(model, checkpoint.config, checkpoint_file, args.out, args.weights_dtype, args.filters,
                                 not args.skip_real_patches, args.real_patches, tuple(args.reduced))  # fmt: skip
    for result in (outcome, *outcome.variants):
        print(result.report.summary())
        if result.published:
            print(f"wrote {redact(result.file)} and its report {redact(result.report_file)}")
        else:
            print(f"verification failed: nothing written to {result.report.file}; the failed file and its report "
                  f"are kept at {result.file} and {result.report_file}", file=sys.stderr)  # fmt: skip
    return 0 if outcome.all_published else 1
