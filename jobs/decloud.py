r"""Decloud the scenes of a Zarr scenes collection with Ray Data, resumably.

    python jobs/decloud.py --collection data/scenes.zarr --model runs/equicr-demo
    python jobs/decloud.py --collection data/scenes.zarr --model equicr.onnx --scenes tile_a --cog-dir out/
    ray job submit --working-dir . -- python jobs/decloud.py --collection /shared/scenes.zarr --model equicr.onnx \\
        --pool-size 8 --gpus-per-actor 1

The output of each scene is written into the collection beside its inputs (s2_decloud, on the same
grid). Rerunning the same command finishes an interrupted run without redoing finished tiles.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from equicr.data.collection import CollectionError
from equicr.decloud.geotiff import export_cog
from equicr.decloud.pipeline import DEFAULT_TILE_SIZE, DecloudError, run_decloud
from equicr.deploy.inference import PRECISIONS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--collection", required=True, help="scenes collection (jobs/ingest.py scenes)")
    parser.add_argument("--model", required=True, help="checkpoint, run folder, or .onnx file")
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all)")
    parser.add_argument(
        "--tile-size", type=int, default=DEFAULT_TILE_SIZE, help="output tile side (default: %(default)s)"
    )
    parser.add_argument("--halo", type=int, help="pixels read around each tile (default: receptive-field radius)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="tiles per actor call; 1 spreads the tiles over every actor (default: %(default)s)",
    )
    parser.add_argument("--pool-size", type=int, default=1, help="actors, each with its own model (default: 1)")
    parser.add_argument(
        "--cpus-per-actor", type=int, default=1, help="CPU cores (torch threads) per actor (default: %(default)s)"
    )
    parser.add_argument("--gpus-per-actor", type=float, default=0, help="GPUs per actor (default: 0, CPU)")
    parser.add_argument(
        "--keep-clear", action="store_true", help="keep original pixels where s2cloudless sees no cloud"
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="checkpoints: run the convolutions in bfloat16 (faster on CPUs with bfloat16 units) (default: fp32)",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace output made with another model or settings")
    parser.add_argument("--cog-dir", type=Path, help="also write each finished scene as <scene>.tif (COG) here")
    parser.add_argument("--no-ray", action="store_true", help="run in this process, without Ray")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run_decloud(
            args.collection, args.model, args.scenes, args.tile_size, args.halo, args.batch_size,
            args.pool_size, args.cpus_per_actor, args.gpus_per_actor, args.keep_clear, args.precision,
            args.overwrite, use_ray=not args.no_ray,
        )  # fmt: skip
        if args.cog_dir:
            for name in summary.scenes_done:
                print(f"wrote {export_cog(args.collection, name, args.cog_dir / f'{name}.tif')}")
    except (FileNotFoundError, CollectionError, DecloudError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary.text())
    print(f"summary stored in the 'last_decloud_run' attribute of {args.collection}")
    return 1 if summary.scenes_failed else 0


if __name__ == "__main__":
    sys.exit(main())
