"""Export a trained checkpoint to ONNX, verify the file, and write the verification report.

    python export/to_onnx.py --checkpoint runs/equicr-demo --out equicr.onnx

Exits non-zero when verification fails (the file is still written, with its report beside it; an
``--out`` URI is uploaded to only when verification passes).
"""

from __future__ import annotations

import sys
from pathlib import Path

from equicr.cli import parser_for, run_job
from equicr.deploy.metadata import FILTER_FORMS, WEIGHT_DTYPES


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
    parser.add_argument("--report", type=Path, help="verification JSON (default: OUT with .verification.json)")
    parser.add_argument("--skip-real-patches", action="store_true", help="parity on random inputs only")
    parser.add_argument(
        "--real-patches", type=Path, metavar="DIR",
        help="SEN12MS-CR tree for the real-patch parity (default: the real patches shipped in the package)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    from equicr.checkpoint import load_model, resolve_checkpoint
    from equicr.deploy.export import export_onnx
    from equicr.deploy.verify import verify_onnx
    from equicr.storage import file_sha256, is_remote, local_path, private_cache_dir, redact, upload, write_json

    checkpoint_file = local_path(resolve_checkpoint(args.checkpoint))
    print(f"exporting {redact(args.checkpoint)}")
    model, checkpoint = load_model(checkpoint_file)
    out = private_cache_dir() / "exports" / Path(args.out).name if is_remote(args.out) else Path(args.out)
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; name the .onnx file to write")
    export_onnx(model, checkpoint.config, out, file_sha256(checkpoint_file), args.weights_dtype, args.filters)
    report = verify_onnx(out, reference=model, checkpoint=checkpoint_file, real_patches=not args.skip_real_patches,
                         patches_root=args.real_patches)  # fmt: skip
    report_path = args.report or out.with_suffix(".verification.json")
    write_json(report_path, report.to_dict())  # atomic: a report is never half there
    print(report.summary())
    if is_remote(args.out) and report.passed:  # a file that fails verification never reaches the object store
        remote_report = args.out.removesuffix(".onnx") + ".verification.json"
        upload(out, args.out)
        upload(report_path, remote_report)
        print(f"uploaded {redact(args.out)} and {redact(remote_report)}")
    elif is_remote(args.out):
        print(f"verification failed: not uploaded to {redact(args.out)}; the file is at {out}", file=sys.stderr)
    print(f"report: {report_path}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(run_job(main))
