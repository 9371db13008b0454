"""Re-verify an existing ONNX file before it ships: metadata, equivariance, and parity when given the checkpoint.

    python export/verify.py equicr.onnx [--checkpoint model.pt] [--report report.json]

Exits non-zero when any check fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.checkpoint import resolve_checkpoint
from equicr.deploy.verify import verify_onnx
from equicr.storage import local_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("onnx_file", help="ONNX file: a path or a URI")
    parser.add_argument(
        "--checkpoint", help="checkpoint (file or run folder, path or URI) the file claims to come from: adds parity"
    )
    parser.add_argument("--report", type=Path, help="write the verification JSON here")
    parser.add_argument("--skip-real-patches", action="store_true", help="parity on random inputs only")
    args = parser.parse_args(argv)
    try:
        checkpoint = resolve_checkpoint(args.checkpoint) if args.checkpoint else None
        report = verify_onnx(local_path(args.onnx_file), checkpoint=checkpoint, real_patches=not args.skip_real_patches)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.report:
        args.report.write_text(report.to_json())
    print(report.summary())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
