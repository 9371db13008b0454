"""Short end-to-end pass on a real patch: metrics and equivariance of small networks, and the shipped model.

    equicr demo                                        # a real patch shipped in the package
    equicr demo --data-dir REAL_DATA_DIR/sen12mscr-mini --width 4 --blocks 2

Without --data-dir (and without $EQUICR_REAL_DATA) it runs on a real patch shipped in the package
under seeded synthetic clouds.
"""

from __future__ import annotations

from pathlib import Path

from equicr.cli import parser_for
from equicr.paths import real_data_dir


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    named = real_data_dir()
    parser.add_argument(
        "--data-dir", type=Path, default=named / "sen12mscr-mini" if named else None,
        help="SEN12MS-CR tree (default: $EQUICR_REAL_DATA/sen12mscr-mini, else a real patch shipped in the package)",
    )  # fmt: skip
    parser.add_argument("--width", type=int, default=4, help="EquiCR regular fields (default: %(default)s)")
    parser.add_argument("--blocks", type=int, default=2, help="residual blocks (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default: %(default)s)")
    args = parser.parse_args(argv)

    from equicr.demo import run_demo

    run_demo(args.data_dir, width=args.width, num_blocks=args.blocks, seed=args.seed)
    return 0
