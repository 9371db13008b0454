"""Export a trained checkpoint to ONNX, verify the file, and write the verification report.

    python export/to_onnx.py --checkpoint runs/equicr-demo --out equicr.onnx

Exits non-zero when verification fails (the file is still written, with its report beside it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.checkpoint import load_model, resolve_checkpoint
from equicr.deploy.export import WEIGHT_DTYPES, export_onnx
from equicr.deploy.metadata import file_sha256
from equicr.deploy.verify import verify_onnx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="checkpoint file, or a run folder (its best checkpoint)"
    )
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--weights-dtype", choices=WEIGHT_DTYPES, default="float32", help="stored weight precision")
    parser.add_argument("--report", type=Path, help="verification JSON (default: OUT with .verification.json)")
    parser.add_argument("--skip-real-patches", action="store_true", help="parity on random inputs only")
    args = parser.parse_args(argv)

    args.checkpoint = resolve_checkpoint(args.checkpoint)
    print(f"exporting {args.checkpoint}")
    model, checkpoint = load_model(args.checkpoint)
    export_onnx(model, checkpoint.config, args.out, file_sha256(args.checkpoint), args.weights_dtype)
    report = verify_onnx(args.out, reference=model, checkpoint=args.checkpoint, real_patches=not args.skip_real_patches)
    report_path = args.report or args.out.with_suffix(".verification.json")
    report_path.write_text(report.to_json())
    print(report.summary())
    print(f"report: {report_path}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
