"""A Sentinel-2 product declouded end to end, per precision: where the time goes, and Mpx/s per core.

    python bench/product.py                              # 10980 px with the shipped model, a 256 px crop at full size
    python bench/product.py --size 2048 --crop 128       # a quick look

Two models, each in float32 and in bfloat16 where the CPU computes it natively (what ``--precision
auto`` picks for a checkpoint; skipped elsewhere), and the shipped model also as its verified INT8
ONNX file where the CPU has VNNI or AMX (what ``--precision auto`` runs for an ONNX file there;
``--skip-onnx`` leaves it out; full-size INT8 calibration takes too long here):
- the shipped small model on a whole ``--size`` px product (10980 px: one Sentinel-2 tile);
- full-size EquiCR (156 regular fields, 16 blocks, the paper's 18.7M parameters; random weights,
  which cost the same) on a ``--crop`` px crop, since one 256 px tile takes tens of seconds here.
Each run is what ``equicr decloud --cog-dir`` does (the default post-processing, s2cloudless
included): ``run_decloud`` on two single-thread actors of a local Ray (one per core), then the
COG export. The scene is written directly (tiled from a seeded synthetic scene), so ingest is not
in it (``bench/scenes.py`` times STAC ingest). The decloud time is split into read, clouds,
inference and write by the shares measured on sample tiles in this process with the same
predictor; COG export is timed as it runs.
Prints a table and writes bench/results/product.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS_DIR, print_table, write_results, write_tiled_scene  # noqa: E402

from equicr.checkpoint import save_checkpoint  # noqa: E402
from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, detect_clouds  # noqa: E402
from equicr.data.collection import open_collection, read_pixels, write_pixels  # noqa: E402
from equicr.decloud.geotiff import export_scene  # noqa: E402
from equicr.decloud.pipeline import run_decloud  # noqa: E402
from equicr.decloud.settings import DecloudSettings  # noqa: E402
from equicr.deploy.predictors import load_predictor  # noqa: E402
from equicr.executors import ActorPool  # noqa: E402
from equicr.hardware import choose_precision, cpu_has_native_int8  # noqa: E402
from equicr.models import ModelConfig, build_model  # noqa: E402
from equicr.paths import SHIPPED_MODEL  # noqa: E402
from equicr.postprocessing import DEFAULT_POSTPROCESSING  # noqa: E402
from equicr.scaling import network_inputs, network_to_optical_dn  # noqa: E402

TILE_SIZE = 1024
STAGES = ("read", "clouds", "inference", "write")


def stage_shares(collection: Path, model: str, precision: str, tile: int, samples: int = 2) -> dict[str, float]:
    """The share of read, clouds, inference and write in declouding sample tiles with this model and precision."""
    scene = open_collection(collection, "scenes", mode="r+")["scenes"]["tile"]
    predictor = load_predictor(model, precision=precision)
    halo = predictor.reference.receptive_field_radius
    _, height, width = scene["s2_cloudy"].shape
    seconds = dict.fromkeys(STAGES, 0.0)
    for index in range(samples + 1):  # the first round warms up and is not counted
        top = min(index * tile, max(height - tile, 0))
        rows, cols = slice(max(top - halo, 0), min(top + tile + halo, height)), slice(0, min(tile + halo, width))
        started = time.perf_counter()
        s2 = read_pixels(scene["s2_cloudy"], (slice(None), rows, cols), "sample")
        s1 = read_pixels(scene["s1"], (slice(None), rows, cols), "sample")
        read = time.perf_counter() - started
        started = time.perf_counter()
        detect_clouds(s2, SCENE_CLOUD_RESOLUTION_M)
        clouds = time.perf_counter() - started
        started = time.perf_counter()
        output = network_to_optical_dn(predictor.predict(network_inputs(s1, s2, predictor.reference.input_mode)[None]))
        inference = time.perf_counter() - started
        started = time.perf_counter()
        core = output[0][:, top - rows.start : top - rows.start + tile, :tile]  # the tile without its halo
        write_pixels(scene["s2_decloud"], (slice(None), slice(top, top + core.shape[1]), slice(0, core.shape[2])), core)
        write = time.perf_counter() - started
        if index:
            for stage, value in zip(STAGES, (read, clouds, inference, write), strict=True):
                seconds[stage] += value
    total = sum(seconds.values())
    return {stage: value / total for stage, value in seconds.items()}


def export_int8(checkpoint: Path, out: Path) -> Path:
    """The checkpoint exported, verified and published as ``out`` with its INT8 variant, as a user does it."""
    command = [sys.executable, "-m", "equicr", "export", "--checkpoint", str(checkpoint), "--out", str(out),
               "--reduced", "int8"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=1800)
    return out


def run(name: str, model: str, collection: Path, precision: str, cores: int, out: Path) -> dict:
    """Decloud and export the product once; the row of the table."""
    import zarr

    settings = DecloudSettings(tile_size=TILE_SIZE, precision=precision)
    started = time.perf_counter()
    summary = run_decloud(collection, model, settings, pool=ActorPool(actors=cores, cpus_per_actor=1), overwrite=True,
                          progress=False)  # fmt: skip
    decloud_s = time.perf_counter() - started
    assert summary.scenes_done == ["tile"], summary.scenes_failed
    started = time.perf_counter()
    export_scene(collection, "tile", out, with_probability=False)
    export_s = time.perf_counter() - started
    _, height, width = zarr.open_group(collection)["scenes/tile/s2_cloudy"].shape
    shares = stage_shares(collection, model, precision, min(TILE_SIZE, height))
    megapixels, total = height * width / 1e6, decloud_s + export_s
    ran = "int8 (ONNX)" if model.endswith(".onnx") else precision
    row = {"model": name, "precision": ran, "size_px": height, "decloud_s": decloud_s, "export_s": export_s}
    row |= {f"share_{stage}": share * decloud_s / total for stage, share in shares.items()}
    row |= {"share_cog_export": export_s / total, "mpx_s_per_core": megapixels / total / cores}
    row["limiting_stage"] = max((key for key in row if key.startswith("share_")), key=row.get)[len("share_") :]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10980, help="product side in pixels (default: 10980)")
    parser.add_argument("--crop", type=int, default=256, help="crop side for full-size EquiCR (default: 256)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/equicr-bench-product"))
    parser.add_argument("--skip-onnx", action="store_true", help="leave out the INT8 ONNX row")
    parser.add_argument("--only-onnx", action="store_true", help="only the INT8 ONNX row")
    args = parser.parse_args()
    import ray

    cores = os.cpu_count() or 1
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    precisions = ["fp32"] + (["bf16"] if choose_precision("auto", "cpu").precision == "bf16" else [])
    runs = []
    if not args.only_onnx:
        full_size = args.work / "equicr-full.pt"
        config = ModelConfig("equicr")  # the paper's EquiCR: 156 regular fields, 16 blocks
        save_checkpoint(full_size, build_model(config), config)
        runs += [("shipped small model", str(SHIPPED_MODEL), args.size, precision) for precision in precisions]
        runs += [("EquiCR full size", str(full_size), args.crop, precision) for precision in precisions]
    if cpu_has_native_int8() and not args.skip_onnx:
        onnx_file = export_int8(SHIPPED_MODEL, args.work / "shipped.onnx")
        runs.append(("shipped small model", str(onnx_file), args.size, "auto"))  # auto: the INT8 file
    rows = []
    for name, model, size, precision in runs:
        collection = args.work / f"{size}.zarr"
        if not collection.exists():
            write_tiled_scene(collection, size)
        rows.append(run(name, model, collection, precision, cores, args.work / "cogs"))
        print_table(rows[-1:], list(rows[-1]))
    print_table(rows, list(rows[0]))
    if args.only_onnx:  # one more row for the committed table
        previous = RESULTS_DIR / "product.json"
        if previous.is_file():
            rows = [row for row in json.loads(previous.read_text())["rows"] if "ONNX" not in row["precision"]] + rows
    write_results("product", {"cores": cores, "tile_size": TILE_SIZE, "postprocessing": DEFAULT_POSTPROCESSING,
                              "actors": cores, "machine_bf16_native": "bf16" in precisions, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
