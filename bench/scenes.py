"""Scenes at Sentinel-2 tile scale: STAC ingest and declouding of 2048, 5490 and 10980 px per-band-COG scenes.

    python bench/scenes.py [--sizes 2048 5490 10980] [--work /tmp/equicr-bench-scenes]
    python bench/scenes.py --export-only      # COG export alone, this code against rio-cogeo's two passes

Each scene is a synthetic L1C tile written as Sentinel products come: one COG per band at its
native resolution (10, 20 or 60 m) and Sentinel-1 VV/VH in linear power on a grid offset by half a
pixel (so it is warped), catalogued with pystac. It is ingested with ``ingest_stac`` as Ray tasks
and declouded with ``run_decloud`` (shipped small model, the default post-processing with s2cloudless at 60 m) on
two single-core actors of a local Ray. Reported per size: wall time and Mpx/s of both stages, the
peak RSS of every Ray worker process (sampled every 0.2 s with psutil: per task and per actor) and,
from an in-process pass over sample windows and tiles, the share of time spent reading, detecting
clouds, inferring and writing. Prints a table and writes bench/results/scenes.json.

``--export-only`` measures COG export alone, per size, on a scene whose declouded output is written
directly (no model): each export runs in its own process, sampled for peak RSS every 0.1 s, this
code's writer (``equicr.decloud.geotiff``: uncompressed levels averaged window by window, GDAL's COG
driver, capped block cache) interleaved with the writer it replaced (a deflate staging GeoTIFF and
rio-cogeo's ``cog_translate``, GDAL's default cache). Writes bench/results/cog_export.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pystac
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import print_table, tiled_image, write_results, write_tiled_scene  # noqa: E402

from equicr.bands import S2_BANDS, S2_NATIVE_RESOLUTION_M  # noqa: E402
from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, detect_clouds  # noqa: E402
from equicr.data.collection import (
    open_collection,  # noqa: E402
    write_pixels,  # noqa: E402
)
from equicr.data.scenes import chunk_windows  # noqa: E402
from equicr.data.synthetic import make_scene  # noqa: E402
from equicr.decloud.geotiff import export_cog  # noqa: E402
from equicr.decloud.output import OUTPUT_ARRAY, mark_scene_complete, prepare_output, unit_markers  # noqa: E402
from equicr.decloud.pipeline import run_decloud  # noqa: E402
from equicr.decloud.settings import DecloudSettings  # noqa: E402
from equicr.deploy.predictors import load_predictor  # noqa: E402
from equicr.executors import ActorPool  # noqa: E402
from equicr.ingest.scenes import write_scene_window  # noqa: E402
from equicr.ingest.stac import ingest_stac, plan_scenes  # noqa: E402
from equicr.paths import SHIPPED_MODEL  # noqa: E402
from equicr.scaling import network_inputs, network_to_optical_dn  # noqa: E402
from equicr.stac.reading import read_s1_window, read_s2_window  # noqa: E402

TILE_SIZE = 1024


def write_product(folder: Path, size: int, seed: int = 0) -> Path:
    """A synthetic ``size`` px L1C item (per-band COGs) and its S1 item, in a static catalog; returns catalog.json."""
    import cv2

    base = make_scene(np.random.default_rng(seed), (1024, 1024), cover=0.4)
    repeats = -(-size // 1024)
    transform = rasterio.Affine(10, 0, 300000, 0, -10, 5000000)
    catalog = pystac.Catalog("bench", "synthetic Sentinel products")
    geometry = {"type": "Polygon", "coordinates": [[(0, 44), (2, 44), (2, 46), (0, 46), (0, 44)]]}
    when = pystac.utils.str_to_datetime("2022-06-01T10:00:00Z")
    s2 = pystac.Item(f"S2_{size}", geometry, [0, 44, 2, 46], when, {"platform": "sentinel-2a"})
    s1 = pystac.Item(f"S1_{size}", geometry, [0, 44, 2, 46], when, {"platform": "sentinel-1a"})
    cog = {"driver": "COG", "compress": "deflate", "blocksize": 512, "crs": "EPSG:32631"}
    for index, band in enumerate(S2_BANDS):
        full = np.tile(base.s2_cloudy[index], (repeats, repeats))[:size, :size]
        factor = S2_NATIVE_RESOLUTION_M[band] // 10
        data = full if factor == 1 else cv2.resize(full, (-(-size // factor),) * 2, interpolation=cv2.INTER_AREA)
        path = folder / f"{band}.tif"
        with rasterio.open(path, "w", width=data.shape[1], height=data.shape[0], count=1, dtype="uint16", nodata=0,
                           transform=transform * rasterio.Affine.scale(factor), **cog) as dataset:  # fmt: skip
            dataset.write(data, 1)
        s2.add_asset(band, pystac.Asset(str(path)))
    for index, band in enumerate(("vv", "vh")):
        linear = np.power(10, np.tile(base.s1[index], (repeats, repeats))[:size, :size] / 10).astype(np.float32)
        path = folder / f"{band}.tif"
        with rasterio.open(path, "w", width=size, height=size, count=1, dtype="float32", nodata=np.nan,
                           transform=transform * rasterio.Affine.translation(0.5, 0.5), **cog) as dataset:  # fmt: skip
            dataset.write(linear, 1)
        s1.add_asset(band, pystac.Asset(str(path)))
    catalog.add_items([s2, s1])
    catalog.normalize_and_save(str(folder / "catalog"), pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return folder / "catalog" / "catalog.json"


class RssSampler:
    """Peak RSS of every Ray worker process, by the task or actor title it had at its peak."""

    def __init__(self) -> None:
        self.peaks: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for process in psutil.process_iter(["cmdline", "memory_info"]):
                title = " ".join(process.info["cmdline"] or [])
                if not title.startswith("ray::") or process.info["memory_info"] is None:
                    continue
                rss = process.info["memory_info"].rss / 2**30
                if rss > self.peaks.get(process.pid, (0.0, ""))[0]:
                    self.peaks[process.pid] = (rss, title.split()[0])
            time.sleep(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, title_part: str) -> float:
        """Largest peak RSS (GiB) among processes whose title contained ``title_part`` at their peak."""
        return max((rss for rss, title in self.peaks.values() if title_part in title), default=float("nan"))


def stage_shares(catalog: Path, collection: Path, samples: int = 3) -> dict[str, float]:
    """Seconds spent per stage on sample windows (ingest) and tiles (decloud), in this process."""
    (plan,), _, _ = plan_scenes(str(catalog))
    scene = open_collection(collection, "scenes", mode="r+")["scenes"][plan.name]
    seconds = dict.fromkeys(
        ("ingest_read", "ingest_write", "decloud_read", "clouds", "inference", "decloud_write"), 0.0
    )
    for window in chunk_windows(plan.grid.height, plan.grid.width)[:samples]:
        _, _, rows, cols = window
        started = time.perf_counter()
        s2, s1 = read_s2_window(plan.s2, plan.grid, rows, cols), read_s1_window(plan.s1, plan.grid, rows, cols)
        seconds["ingest_read"] += time.perf_counter() - started
        started = time.perf_counter()
        write_scene_window(scene, window, s1, s2)
        seconds["ingest_write"] += time.perf_counter() - started
    predictor = load_predictor(SHIPPED_MODEL)
    tile = min(TILE_SIZE, plan.grid.height)
    for index in range(samples):
        rows = slice(0, tile)
        left = min(index * tile, plan.grid.width - tile)
        cols = slice(left, left + tile)
        started = time.perf_counter()
        s2 = scene["s2_cloudy"][:, rows, cols]
        s1 = scene["s1"][:, rows, cols]
        seconds["decloud_read"] += time.perf_counter() - started
        started = time.perf_counter()
        detect_clouds(s2, SCENE_CLOUD_RESOLUTION_M)
        seconds["clouds"] += time.perf_counter() - started
        started = time.perf_counter()
        output = network_to_optical_dn(predictor.predict(network_inputs(s1, s2, predictor.reference.input_mode)[None]))
        seconds["inference"] += time.perf_counter() - started
        started = time.perf_counter()
        scene["s2_decloud"][:, rows, cols] = output[0]
        seconds["decloud_write"] += time.perf_counter() - started
    return seconds


def declouded_scene(folder: Path, size: int) -> Path:
    """A ``size`` px scene whose decloud output is complete, written directly (no model): export's input."""
    path = folder / "declouded.zarr"
    scene, base = write_tiled_scene(path, size)
    record = {"model": "bench", "model_sha256": "0" * 64, "model_config": None}
    prepare_output(scene, "tile", record, DecloudSettings(tile_size=TILE_SIZE, halo=0), overwrite=False)
    for row, top in enumerate(range(0, size, TILE_SIZE)):
        for col, left in enumerate(range(0, size, TILE_SIZE)):
            rows, cols = slice(top, min(top + TILE_SIZE, size)), slice(left, min(left + TILE_SIZE, size))
            write_pixels(scene[OUTPUT_ARRAY], (slice(None), rows, cols), tiled_image(base.s2, rows, cols))
            unit_markers(scene).mark_completed((row, col))
    mark_scene_complete(scene)
    return path


def export_with_rio_cogeo(collection: Path, out: Path) -> None:
    """The writer this code replaced: the output copied into a deflate GeoTIFF, then rio-cogeo's cog_translate."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    array = open_collection(collection, "scenes")["scenes"]["tile"][OUTPUT_ARRAY]
    _, height, width = array.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": array.shape[0], "dtype": "uint16",
               "crs": "EPSG:32631", "transform": rasterio.Affine(10, 0, 300000, 0, -10, 5000000), "nodata": 0,
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        staging = Path(folder) / "staging.tif"
        with rasterio.open(staging, "w", **profile) as dataset:
            for top in range(0, height, TILE_SIZE):
                for left in range(0, width, TILE_SIZE):
                    block = array[:, top : top + TILE_SIZE, left : left + TILE_SIZE]
                    dataset.write(block, window=rasterio.windows.Window(left, top, block.shape[2], block.shape[1]))
        cog = {**cog_profiles.get("deflate"), "blockxsize": 256, "blockysize": 256}
        cog_translate(staging, out, cog, nodata=0, overview_resampling="average", quiet=True, in_memory=False)


def timed_export(writer: str, collection: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GiB) of one export in its own process, sampled every 0.1 s."""
    command = [sys.executable, __file__, "--export-worker", writer, str(collection), str(out)]
    started = time.perf_counter()
    process = psutil.Popen(command)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    if process.returncode != 0:
        raise RuntimeError(f"{writer} export failed with exit {process.returncode}")
    return time.perf_counter() - started, peak / 2**30


def export_benchmark(sizes: list[int], work: Path) -> None:
    """COG export alone per size: this code's writer against rio-cogeo's, each in its own process."""
    rows = []
    for size in sizes:
        folder = work / f"export-{size}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        collection = declouded_scene(folder, size)
        row = {"size_px": size, "megapixels": size * size / 1e6}
        for writer in ("equicr", "rio-cogeo"):
            out = folder / f"{writer}.tif"
            seconds, peak = timed_export(writer, collection, out)
            row |= {f"{writer}_s": seconds, f"{writer}_mpx_s": row["megapixels"] / seconds,
                    f"{writer}_peak_gib": peak, f"{writer}_mib": out.stat().st_size / 2**20}  # fmt: skip
        row["speedup"] = row["rio-cogeo_s"] / row["equicr_s"]
        rows.append(row)
        print_table(rows[-1:], list(row))
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows, list(rows[0]))
    write_results("cog_export", {"tile_size": TILE_SIZE, "bands": len(S2_BANDS), "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 5490, 10980])
    parser.add_argument("--work", type=Path, default=Path("/tmp/equicr-bench-scenes"))
    parser.add_argument("--export-only", action="store_true", help="measure COG export alone (no model)")
    parser.add_argument("--export-worker", nargs=3, metavar=("WRITER", "COLLECTION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_worker:
        writer, collection, out = args.export_worker
        if writer == "equicr":
            export_cog(collection, "tile", out)
        else:
            export_with_rio_cogeo(Path(collection), Path(out))
        return
    if args.export_only:
        export_benchmark(args.sizes, args.work)
        return
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    for size in args.sizes:
        folder = args.work / str(size)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        catalog = write_product(folder, size)
        print(f"{size} px: product written in {time.perf_counter() - started:.0f} s", flush=True)
        collection = folder / "scenes.zarr"
        megapixels = size * size / 1e6
        with RssSampler() as ingest_rss:
            started = time.perf_counter()
            report = ingest_stac(str(catalog), str(collection), use_ray=True, progress=False)
            ingest_seconds = time.perf_counter() - started
        assert report.written == 1, report.failures
        with RssSampler() as decloud_rss:
            started = time.perf_counter()
            settings = DecloudSettings(tile_size=TILE_SIZE)
            summary = run_decloud(collection, SHIPPED_MODEL, settings, pool=ActorPool(actors=2), progress=False)
            decloud_seconds = time.perf_counter() - started
        assert summary.scenes_done, summary.scenes_failed
        shares = stage_shares(catalog, collection)
        total_ingest = shares["ingest_read"] + shares["ingest_write"]
        total_decloud = shares["decloud_read"] + shares["clouds"] + shares["inference"] + shares["decloud_write"]
        rows.append({
            "size_px": size, "megapixels": megapixels,
            "ingest_s": ingest_seconds, "ingest_mpx_s": megapixels / ingest_seconds,
            "ingest_task_peak_gib": ingest_rss.peak("ingest_windows"),
            "decloud_s": decloud_seconds, "decloud_mpx_s": megapixels / decloud_seconds,
            "decloud_actor_peak_gib": decloud_rss.peak("MapWorker"),
            "share_ingest_read": shares["ingest_read"] / total_ingest,
            "share_ingest_write": shares["ingest_write"] / total_ingest,
            "share_decloud_read": shares["decloud_read"] / total_decloud,
            "share_clouds": shares["clouds"] / total_decloud,
            "share_inference": shares["inference"] / total_decloud,
            "share_decloud_write": shares["decloud_write"] / total_decloud,
        })  # fmt: skip
        print_table(rows[-1:], list(rows[-1]))
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows, list(rows[0]))
    write_results("scenes", {"tile_size": TILE_SIZE, "model": "shipped real-best.pt", "actors": 2,
                             "cloud_resolution_m": SCENE_CLOUD_RESOLUTION_M, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
