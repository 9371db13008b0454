"""Build Zarr collections: a SEN12MS-CR tree or S1/S2 scene GeoTIFFs in, a patches or scenes collection out.

    python jobs/ingest.py sen12mscr --root /data/SEN12MS-CR --out data/sen12mscr.zarr --splits train val
    python jobs/ingest.py scenes --pair tile_a s1_a.tif s2_a.tif --out data/scenes.zarr
    python jobs/ingest.py synthetic --count 64 --size 64 --out data/synthetic.zarr

Rerunning the same command resumes: finished patches and scenes are skipped, unfinished ones are
written again. Add --ray to fan a large tree out over the Ray cluster that `ray.init()` joins.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.cli import add_ray_option, parser_for, positive_int, run_job
from equicr.data.sen12mscr import SPLITS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    tree = commands.add_parser("sen12mscr", help="SEN12MS-CR GeoTIFF tree to a patches collection")
    tree.add_argument("--root", type=Path, required=True, help="folder holding the ROIs*_<season>_s1/... folders")
    tree.add_argument("--out", required=True, help="patches collection to create or resume (path or URI)")
    tree.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to ingest")
    tree.add_argument("--limit", type=positive_int, default=None, help="ingest only the first N patches (by id)")
    add_ray_option(tree, default="in this process")

    scenes = commands.add_parser("scenes", help="co-registered S1 and S2 GeoTIFFs to a scenes collection")
    scenes.add_argument(
        "--pair", nargs=3, action="append", required=True, metavar=("NAME", "S1_TIF", "S2_CLOUDY_TIF"),
        help="one scene: its name, its Sentinel-1 file and its cloudy Sentinel-2 file (repeatable)",
    )  # fmt: skip
    scenes.add_argument("--out", required=True, help="scenes collection to create or add to (path or URI)")

    synthetic = commands.add_parser("synthetic", help="seeded synthetic patches (or scenes) for demos and tests")
    synthetic.add_argument("--out", required=True, help="collection to write (path or URI)")
    synthetic.add_argument("--count", type=positive_int, default=64, help="number of patches (default: %(default)s)")
    synthetic.add_argument("--size", type=positive_int, default=64, help="patch side in pixels (default: %(default)s)")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--scenes", action="store_true", help="write a scenes collection of odd-sized scenes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from equicr.data.ingest import ingest_scenes, ingest_sen12mscr
    from equicr.data.synthetic import write_synthetic_patches, write_synthetic_scenes

    if args.command == "synthetic":
        if args.scenes:
            sizes = [(args.size + 7 * i, args.size + 5 * i + 3) for i in range(args.count)]
            print(f"wrote {write_synthetic_scenes(args.out, sizes, args.seed)}")
        else:
            print(f"wrote {write_synthetic_patches(args.out, args.count, args.size, args.seed)}")
        return 0
    if args.command == "sen12mscr":
        report = ingest_sen12mscr(args.root, args.out, tuple(args.splits), args.limit, use_ray=bool(args.ray))
    else:
        report = ingest_scenes([tuple(pair) for pair in args.pair], args.out)
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    print(f"{args.out}: {report.summary()}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(run_job(main))
