r"""Decloud the scenes of a Zarr scenes collection with Ray Data, resumably.

    equicr decloud --collection data/scenes.zarr                  # the shipped small model
    equicr decloud --collection data/scenes.zarr --model runs/equicr-demo
    equicr decloud --collection data/scenes.zarr --model equicr.onnx --scenes tile_a --cog-dir out/
    ray job submit --working-dir . -- python jobs/decloud.py --collection /shared/scenes.zarr --model equicr.onnx \
        --actors 8 --gpus-per-actor 1

The output of each scene is written into the collection beside its inputs (s2_decloud, on the same
grid). Rerunning the same command finishes an interrupted run without redoing finished tiles.
"""

from __future__ import annotations

import sys
from pathlib import Path

from equicr.cli import (
    actor_pool_from_args,
    add_actor_pool_options,
    non_negative_int,
    parser_for,
    positive_int,
)
from equicr.data.clouds import CLOUD_RESOLUTIONS_M, SCENE_CLOUD_RESOLUTION_M
from equicr.decloud.tiling import DEFAULT_TILE_SIZE
from equicr.errors import USAGE_ERROR, outcome_status
from equicr.models import PRECISION_CHOICES
from equicr.paths import SHIPPED_MODEL
from equicr.postprocessing import BLEND_HIGH, BLEND_LOW, DEFAULT_POSTPROCESSING, POSTPROCESSING, needs_clouds


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--collection", required=True, help="scenes collection (jobs/ingest.py scenes)")
    parser.add_argument(
        "--model", default=str(SHIPPED_MODEL),
        help="checkpoint, run folder, or .onnx file (path or URI); default: the small model trained on real ground "
        "shipped in the package (equicr/assets/models/MODEL_CARD.md)",
    )  # fmt: skip
    parser.add_argument("--scenes", nargs="+", help="only these scenes (default: all)")
    parser.add_argument(
        "--tile-size", type=positive_int, default=DEFAULT_TILE_SIZE, help="output tile side (default: %(default)s)"
    )
    parser.add_argument(
        "--halo", type=non_negative_int, help="pixels read around each tile (default: receptive-field radius)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=1,
        help="tiles per actor call; 1 spreads the tiles over every actor (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--postprocessing", choices=POSTPROCESSING, default=DEFAULT_POSTPROCESSING,
        help="where prediction and cloudy input meet: blend weighs the prediction by s2cloudless's cloud "
        f"probability ({BLEND_LOW} to {BLEND_HIGH}), keep-clear keeps the input where s2cloudless sees no cloud, "
        "raw is the network alone (default: %(default)s, measured in docs/evaluation.md)",
    )  # fmt: skip
    parser.add_argument(
        "--cloud-resolution", type=int, choices=CLOUD_RESOLUTIONS_M, default=SCENE_CLOUD_RESOLUTION_M,
        help="metres at which s2cloudless runs for --postprocessing, upsampled to 10 m (default: %(default)s; "
        "bench/cloud_resolution.py measures speed-up and agreement with 10 m)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="auto",
        help="checkpoints: bf16 runs the convolutions in bfloat16; auto (default) does so only where the device "
        "computes bfloat16 natively (CUDA, AVX-512 BF16, AMX), else fp32; each actor prints its choice",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace output made with another model or settings")
    parser.add_argument(
        "--cog-dir", type=Path,
        help="also write each finished scene here as <scene>.tif (COG) with its STAC item <scene>.json "
        "and <scene>_cloud_probability.tif (unless --postprocessing raw)",
    )  # fmt: skip
    add_actor_pool_options(parser, ray_default="on Ray")
    args = parser.parse_args(argv)
    pool = actor_pool_from_args(args, ray_by_default=True)

    from equicr.decloud.geotiff import export_scene
    from equicr.decloud.pipeline import run_decloud
    from equicr.decloud.settings import DecloudSettings
    from equicr.storage import redact

    settings = DecloudSettings(args.tile_size, args.halo, args.postprocessing, args.precision, args.cloud_resolution,
                               args.batch_size)  # fmt: skip
    summary = run_decloud(args.collection, args.model, settings, args.scenes, pool, args.overwrite)
    if args.cog_dir:
        for name in summary.scenes_done:
            with_probability = needs_clouds(args.postprocessing)
            for path in export_scene(args.collection, name, args.cog_dir, with_probability=with_probability):
                print(f"wrote {path}")
    print(summary.text())
    print(f"summary stored in the 'last_decloud_run' attribute of {redact(args.collection)}")
    status = outcome_status(len(summary.scenes_done), len(summary.scenes_failed))
    if status == USAGE_ERROR:
        print(f"error: no scene of {redact(args.collection)} is declouded (see the failures above)", file=sys.stderr)
    return status
