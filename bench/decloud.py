"""The declouding pipeline end to end against model-only throughput on the same cores, and memory per actor.

    python bench/decloud.py                                   # 2048-px scene, tiles 256/512/1024, halo 34
    python bench/decloud.py --width 156 --blocks 16 --scene 4096 --gpus   # the real thing, on a GPU node

Model-only: the prepared model (what the pipeline runs for a checkpoint) on one tile of random
input, no I/O, no halo. Pipeline: ``run_decloud`` over a scene in this process for each tile size,
and on Ray Data at the default tile size with every core as one actor and as one actor per core
(Ray already started: cluster start-up is a once-per-job cost; actor start-up and model loading
are counted). Efficiency is pipeline
output pixels per second over model-only output pixels per second. The halo defaults to 34 px, the
full-size model's receptive-field radius, whatever the bench model's depth, so the halo overhead
is the full model's. Peak memory (max RSS) of a process declouding scenes of two sizes at one tile
size shows what an actor needs, and that it does not grow with the scene. Prints tables, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchlib import interleaved_medians, print_table, write_results

from equicr.checkpoint import save_checkpoint
from equicr.data.collection import open_collection
from equicr.decloud.output import DONE_ARRAY, prepare_output
from equicr.decloud.pipeline import DecloudActor, run_decloud
from equicr.decloud.settings import DecloudSettings
from equicr.decloud.tiling import DEFAULT_TILE_SIZE, plan_units
from equicr.deploy.predictors import load_predictor, resolve_model
from equicr.executors import ActorPool
from equicr.ingest.simulated import write_synthetic_scenes
from equicr.lease import exclusive_writer
from equicr.models import ModelConfig, build_model

FULL_MODEL_HALO = ModelConfig().receptive_field_radius


def halo_overhead(scene: int, tile: int, halo: int) -> float:
    """Pixels read (tiles with their halos, clipped to the scene) over pixels written."""
    units = plan_units("s", scene, scene, tile, halo)
    read = sum((u.read.row_stop - u.read.row_start) * (u.read.col_stop - u.read.col_start) for u in units)
    return read / scene**2


def decloud_seconds(
    collection: str, checkpoint: str, tile: int, halo: int, use_ray: bool, actors: int = 1, cores: int = 1
) -> float:
    """Seconds of one full ``run_decloud`` over the collection: every unit computed, none skipped as done."""
    scenes = open_collection(collection, "scenes", mode="r+")["scenes"]
    for name, _ in scenes.groups():
        if DONE_ARRAY in scenes[name]:
            scenes[name][DONE_ARRAY][:] = False
    pool = ActorPool(actors, cores, use_ray=use_ray)
    summary = run_decloud(
        collection,
        checkpoint,
        settings=DecloudSettings(tile_size=tile, halo=halo),
        pool=pool,
        overwrite=True,
        progress=False,
    )
    if summary.scenes_failed or summary.units_skipped:
        raise RuntimeError(f"declouding failed or skipped units: {summary}")
    return summary.seconds


def peak_memory_mb(collection: str, checkpoint: str, tile: int, halo: int) -> float:
    """Peak resident memory (VmHWM) of a fresh process that declouds the collection as one actor does, in MB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries it over from the parent through fork and exec,
    so a child would report at least this (large) process's resident memory.
    """
    command = [sys.executable, __file__, "--probe-memory", collection, checkpoint, str(tile), str(halo)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["max_rss_mb"]


def throughput(args: argparse.Namespace, config: ModelConfig, checkpoint: str, collection: str):
    """Model-only and pipeline throughput at each tile size, and on Ray Data at ``args.ray_tile``."""
    import ray

    predictor = load_predictor(checkpoint)
    ray.init(num_cpus=None, include_dashboard=False, log_to_driver=False)
    rows, model_pixels = [], {}
    for tile in args.tiles:
        inputs = np.random.default_rng(0).uniform(0, 2, (1, config.in_channels, tile, tile)).astype(np.float32)
        timings = interleaved_medians({"model": lambda inputs=inputs: predictor.predict(inputs)}, rounds=3)
        model_pixels[tile] = tile**2 / timings["model"]
        in_process = args.scene**2 / decloud_seconds(collection, checkpoint, tile, args.halo, use_ray=False)
        rows.append({
            "tile": tile, "halo": args.halo, "read / written": halo_overhead(args.scene, tile, args.halo),
            "interior read / written": (tile + 2 * args.halo) ** 2 / tile**2,
            "model Mpx/s": model_pixels[tile] / 1e6, "pipeline Mpx/s": in_process / 1e6,
            "efficiency": in_process / model_pixels[tile],
        })  # fmt: skip
    cores = os.cpu_count()
    on_ray = []
    for actors, cores_each in ((1, cores), (cores, 1)):  # every core, as one actor or one actor per core
        pixels = args.scene**2 / decloud_seconds(collection, checkpoint, args.ray_tile, args.halo, True, actors,
                                                 cores_each)  # fmt: skip
        on_ray.append(
            {
                "tile": args.ray_tile,
                "actors x cores": f"{actors} x {cores_each}",
                "pipeline Mpx/s": pixels / 1e6,
                "efficiency": pixels / model_pixels[args.ray_tile],
            }
        )
    ray.shutdown()
    print(f"EquiCR width {args.width} x {args.blocks} blocks, scene {args.scene} px, halo {args.halo} px; "
          f"in this process, then on Ray Data")  # fmt: skip
    print_table(rows, list(rows[0]))
    print_table(on_ray, list(on_ray[0]))
    return rows, on_ray


def resident_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def rss_per_unit(collection: str, checkpoint: str, tile: int, halo: int) -> list[dict]:
    """Resident memory after each work unit of the collection's first scene, run by one actor in this process."""
    scenes = open_collection(collection, "scenes", mode="r+")["scenes"]
    name = next(name for name, _ in scenes.groups())
    reference = resolve_model(checkpoint)
    settings = DecloudSettings(tile_size=tile, halo=halo)
    rows = []
    with exclusive_writer(collection, f"decloud-{name}") as keeper:
        prepare_output(scenes[name], name, reference.record(), settings, overwrite=True)
        lease = keeper.leases[f"decloud-{name}"]
        actor = DecloudActor(collection, reference, settings, {name: (lease.location, lease.token)})
        for number, unit in enumerate(plan_units(name, *scenes[name]["s2_cloudy"].shape[1:], tile, halo)):
            actor.process(name, unit.tile_row, unit.tile_col)
            window = f"{unit.read.row_stop - unit.read.row_start}x{unit.read.col_stop - unit.read.col_start}"
            rows.append({"unit": number, "window": window, "RSS MB after": resident_mb()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=64, help="EquiCR regular fields (default: %(default)s)")
    parser.add_argument("--blocks", type=int, default=1, help="residual blocks (default: %(default)s)")
    parser.add_argument("--scene", type=int, default=2048, help="scene side in pixels (default: %(default)s)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 512, 1024], help="tile sizes to compare")
    parser.add_argument("--halo", type=int, default=FULL_MODEL_HALO, help="halo in pixels (default: %(default)s)")
    parser.add_argument("--ray-tile", type=int, default=DEFAULT_TILE_SIZE, help="tile size of the Ray Data runs")
    parser.add_argument("--memory-tile", type=int, default=512, help="tile size of the memory probe")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/decloud.json)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory probes")
    parser.add_argument("--rss-per-unit", action="store_true", help="only: resident memory after each unit")
    parser.add_argument("--probe-memory", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_memory:
        collection, checkpoint, tile, halo = args.probe_memory
        decloud_seconds(collection, checkpoint, int(tile), int(halo), use_ray=False)
        status = Path("/proc/self/status").read_text().splitlines()
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        print(json.dumps({"max_rss_mb": peak_kb / 1024}))
        return

    torch.manual_seed(0)
    config = ModelConfig(width=args.width, num_blocks=args.blocks)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = str(save_checkpoint(Path(folder) / "model.pt", build_model(config, identity_start=False), config))
        collection = str(write_synthetic_scenes(Path(folder) / "scenes.zarr", [(args.scene, args.scene)], seed=0))
        small = str(write_synthetic_scenes(Path(folder) / "small.zarr", [(args.scene // 2, args.scene // 2)], seed=1))
        if args.rss_per_unit:
            per_unit = rss_per_unit(collection, checkpoint, args.memory_tile, args.halo)
            print_table(per_unit, list(per_unit[0]))
            write_results("decloud_rss_per_unit", {"model": config.to_dict(), "units": per_unit}, args.out)
            return
        rows, on_ray = ([], []) if args.memory_only else throughput(args, config, checkpoint, collection)
        memory = [
            {"scene": side, "tile": args.memory_tile, "peak RSS MB": peak_memory_mb(path, checkpoint, args.memory_tile,
                                                                                 args.halo)}
            for side, path in ((args.scene // 2, small), (args.scene, collection))
        ]  # fmt: skip
        print_table(memory, list(memory[0]))
    if args.memory_only:
        write_results("decloud_memory", {"model": config.to_dict(), "memory": memory}, args.out)
        return
    write_results("decloud", {"model": config.to_dict(), "scene": args.scene, "in_process": rows, "ray_data": on_ray,
                              "memory": memory}, args.out)  # fmt: skip


if __name__ == "__main__":
    main()
