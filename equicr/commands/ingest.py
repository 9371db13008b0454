r"""Build Zarr collections: a SEN12MS-CR tree or S1/S2 scene GeoTIFFs in, a patches or scenes collection out.

    equicr ingest stac --catalog catalog.json --out data/scenes.zarr --bbox 5.8 50.7 6.0 50.9 --max-days 3
    AWS_REQUEST_PAYER=requester equicr ingest stac \
        --catalog https://earth-search.aws.element84.com/v1 --collections sentinel-2-l1c \
        --sar-catalog https://planetarycomputer.microsoft.com/api/stac/v1 --sar-collections sentinel-1-rtc \
        --bbox -75.9 37.5 -75.7 37.7 --datetime 2023-06-01/2023-06-30 --out s3://bucket/scenes.zarr --ray
    equicr ingest sen12mscr --root /data/SEN12MS-CR --out data/sen12mscr.zarr --splits train val
    equicr ingest scenes --pair tile_a s1_a.tif s2_a.tif --out data/scenes.zarr
    equicr ingest scenes --optical tile_b s2_b.tif --out data/scenes.zarr   # no Sentinel-1
    equicr ingest synthetic --count 64 --size 64 --out data/synthetic.zarr
    equicr ingest composite --root REAL_DATA_DIR --count 600 --size 64 --out data/composites.zarr
    equicr ingest testbench --root REAL_DATA_DIR --out data/testbench

Sentinel-2 and Sentinel-1 may come from different catalogs (--catalog, --sar-catalog), each with
its own collections and time window; Planetary Computer's links are signed (--sign/--sar-sign auto),
requester-pays buckets need AWS_REQUEST_PAYER=requester and AWS credentials.

Rerunning the same command resumes: finished patches and scenes are skipped, unfinished ones are
written again (STAC scenes resume window by window). Add --ray to fan a large tree or catalog out
over the Ray cluster that `ray.init()` joins.
`composite` puts SatelliteCloudGenerator clouds over the real clear backgrounds of a folder of real
Sentinel data (--root, or $EQUICR_REAL_DATA); `testbench` writes its real clouds (real-clouds,
triplets, do-no-harm), scene-disjoint from those backgrounds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.cli import add_ray_option, add_real_data_option, parser_for, positive_int, require_real_data
from equicr.data.sen12mscr import SPLITS
from equicr.errors import USAGE_ERROR
from equicr.stac import DEFAULT_MAX_DAYS
from equicr.stac.access import SIGNING_CHOICES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    tree = commands.add_parser("sen12mscr", help="SEN12MS-CR GeoTIFF tree to a patches collection")
    tree.add_argument("--root", type=Path, required=True, help="folder holding the ROIs*_<season>_s1/... folders")
    tree.add_argument("--out", required=True, help="patches collection to create or resume (path or URI)")
    tree.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to ingest")
    tree.add_argument("--limit", type=positive_int, default=None, help="ingest only the first N patches (by id)")
    add_ray_option(tree, default="in this process")

    stac = commands.add_parser("stac", help="Sentinel-2 L1C + Sentinel-1 items of a STAC catalog to scenes")
    stac.add_argument(
        "--catalog", required=True,
        help="static catalog (catalog.json: path or URI, e.g. s3://bucket/catalog.json) or STAC API URL",
    )  # fmt: skip
    stac.add_argument("--out", required=True, help="scenes collection to create, add to or resume (path or URI)")
    stac.add_argument(
        "--bbox", type=float, nargs=4, metavar=("WEST", "SOUTH", "EAST", "NORTH"), help="lon/lat box to search"
    )
    stac.add_argument("--datetime", help="ISO 8601 instant or interval, e.g. 2022-06-01/2022-06-30")
    stac.add_argument("--collections", nargs="+", help="collections to search (a STAC API usually needs them)")
    stac.add_argument(
        "--sign", choices=SIGNING_CHOICES, default="auto",
        help="sign asset links: auto signs Planetary Computer's (its own hosts), none signs nothing (default: auto)",
    )  # fmt: skip
    sar = stac.add_argument_group("Sentinel-1 from another catalog (default: the Sentinel-2 catalog and collections)")
    sar.add_argument("--sar-catalog", help="static catalog or STAC API to search for Sentinel-1 (RTC) items")
    sar.add_argument(
        "--sar-collections", nargs="+",
        help="its collections, e.g. sentinel-1-rtc (needed for an API; default for a static catalog: all)",
    )  # fmt: skip
    sar.add_argument(
        "--sar-datetime",
        help="its time window (default: --datetime widened by --max-days at both ends, so edge items find partners)",
    )
    sar.add_argument("--sar-sign", choices=SIGNING_CHOICES, default="auto", help="as --sign, for --sar-catalog")
    stac.add_argument(
        "--max-days", type=float, default=DEFAULT_MAX_DAYS,
        help="pair an S2 item with the nearest S1 item covering it within this many days (default: %(default)s)",
    )  # fmt: skip
    stac.add_argument(
        "--optical-only", action="store_true",
        help="also ingest S2 items without an S1 partner, marked has_sar: false (for optical-only models)",
    )  # fmt: skip
    add_ray_option(stac, default="in this process")

    scenes = commands.add_parser("scenes", help="co-registered S1 and S2 GeoTIFFs (or S2 alone) to a scenes collection")
    scenes.add_argument(
        "--pair", nargs=3, action="append", default=[], metavar=("NAME", "S1_TIF", "S2_CLOUDY_TIF"),
        help="one scene: its name, its Sentinel-1 file and its cloudy Sentinel-2 file (repeatable)",
    )  # fmt: skip
    scenes.add_argument(
        "--optical", nargs=2, action="append", default=[], metavar=("NAME", "S2_CLOUDY_TIF"),
        help="one optical-only scene (has_sar: false, for optical models): its name and cloudy Sentinel-2 file",
    )  # fmt: skip
    scenes.add_argument("--out", required=True, help="scenes collection to create or add to (path or URI)")

    synthetic = commands.add_parser("synthetic", help="seeded synthetic patches (or scenes) for demos and tests")
    synthetic.add_argument("--out", required=True, help="collection to write (path or URI)")
    synthetic.add_argument("--count", type=positive_int, default=64, help="number of patches (default: %(default)s)")
    synthetic.add_argument("--size", type=positive_int, default=64, help="patch side in pixels (default: %(default)s)")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--scenes", action="store_true", help="write a scenes collection of odd-sized scenes")

    composite = commands.add_parser("composite", help="simulated clouds over real clear backgrounds (training)")
    add_real_data_option(composite)
    composite.add_argument("--out", required=True, help="patches collection to create or resume (path or URI)")
    composite.add_argument("--count", type=positive_int, default=600, help="composites (default: %(default)s)")
    composite.add_argument("--size", type=positive_int, default=64, help="patch side in pixels (default: %(default)s)")
    composite.add_argument("--seed", type=int, default=0)

    bench = commands.add_parser("testbench", help="the real-cloud test bench of a shared data folder")
    add_real_data_option(bench)
    bench.add_argument("--out", type=Path, required=True, help="folder for real-clouds, triplets, do-no-harm .zarr")
    args = parser.parse_args(argv)
    if args.command == "scenes" and not (args.pair or args.optical):
        scenes.error("give at least one --pair NAME S1_TIF S2_CLOUDY_TIF or --optical NAME S2_CLOUDY_TIF")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from equicr.ingest.geotiffs import ingest_scenes, ingest_sen12mscr, write_test_bench
    from equicr.ingest.simulated import write_composites, write_synthetic_patches, write_synthetic_scenes

    if args.command == "synthetic":
        if args.scenes:
            sizes = [(args.size + 7 * i, args.size + 5 * i + 3) for i in range(args.count)]
            print(f"wrote {write_synthetic_scenes(args.out, sizes, args.seed)}")
        else:
            print(f"wrote {write_synthetic_patches(args.out, args.count, args.size, args.seed)}")
        return 0
    if args.command in ("composite", "testbench"):
        from equicr.data.real import load_real_data
        from equicr.storage import private_cache_dir

        real = load_real_data(require_real_data(args.root))
        if args.command == "testbench":
            for name, location in write_test_bench(real, args.out).items():
                print(f"{name}: {location}")
            return 0
        virginia = real.virginia(private_cache_dir() / "virginia-training", "training")  # real land, when there
        report = write_composites(real.backgrounds + virginia, args.out, args.count, args.size, args.seed)
    elif args.command == "stac":
        from equicr.ingest.stac import ingest_stac
        from equicr.stac.catalog import CatalogSource, is_api

        optical = CatalogSource.of(args.catalog, args.collections, args.datetime, args.sign)
        sar = None
        if args.sar_catalog or args.sar_collections or args.sar_datetime:
            location = args.sar_catalog or args.catalog
            elsewhere = location != args.catalog
            if elsewhere and is_api(location) and not args.sar_collections:
                print(f"error: --sar-catalog {location} is a STAC API: name its Sentinel-1 collections with "
                      "--sar-collections (e.g. sentinel-1-rtc)", file=sys.stderr)  # fmt: skip
                return USAGE_ERROR
            collections = args.sar_collections or (None if elsewhere else args.collections)
            window = args.sar_datetime or optical.widened(args.max_days).interval
            sar = CatalogSource.of(location, collections, window, args.sar_sign)
        report = ingest_stac(
            optical, args.out, args.bbox, args.max_days, sar, args.optical_only, use_ray=bool(args.ray)
        )  # fmt: skip
    elif args.command == "sen12mscr":
        report = ingest_sen12mscr(args.root, args.out, tuple(args.splits), args.limit, use_ray=bool(args.ray))
    else:
        pairs = [tuple(pair) for pair in args.pair] + [(name, None, s2) for name, s2 in args.optical]
        report = ingest_scenes(pairs, args.out)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for failure in report.failures:
        print(f"failed: {failure}", file=sys.stderr)
    print(f"{args.out}: {report.summary()}")
    if report.exit_code() == USAGE_ERROR:
        print(f"error: nothing was ingested into {args.out}: no item could be used (see the lines above)",
              file=sys.stderr)  # fmt: skip
    return report.exit_code()
