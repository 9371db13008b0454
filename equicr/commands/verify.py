"""Re-verify an existing ONNX file before it ships: metadata, equivariance, and parity when given the checkpoint.

    equicr verify equicr.onnx                                # metadata, recorded outputs, equivariance
    equicr verify equicr.onnx --checkpoint runs/equicr-demo  # and parity with the checkpoint it came from

Writes the report beside the file (``equicr.verification.json``, for a path or a URI) unless
``--report`` names another place: decloud runs an ONNX file only with a passing report beside it
for its exact bytes. Exits non-zero when any check fails.
"""

from __future__ import annotations

from equicr.cli import add_real_patch_options, parser_for


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("onnx_file", help="ONNX file: a path or a URI")
    parser.add_argument(
        "--checkpoint", help="checkpoint (file or run folder, path or URI) the file claims to come from: adds parity"
    )
    parser.add_argument("--report", help="write the verification JSON here (default: beside the file)")
    add_real_patch_options(parser)
    args = parser.parse_args(argv)

    from equicr.checkpoint import resolve_checkpoint
    from equicr.deploy.reports import report_location
    from equicr.deploy.verify import verify_onnx
    from equicr.storage import local_path, redact, write_json

    checkpoint = local_path(resolve_checkpoint(args.checkpoint)) if args.checkpoint else None
    report = verify_onnx(local_path(args.onnx_file), checkpoint=checkpoint, real_patches=not args.skip_real_patches,
                         patches_root=args.real_patches)  # fmt: skip
    report.file = redact(args.onnx_file)
    report_file = write_json(args.report or report_location(args.onnx_file), report.to_dict())
    print(report.summary())
    print(f"report: {redact(report_file)}")
    return 0 if report.passed else 1
