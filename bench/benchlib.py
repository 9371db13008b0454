"""Shared helpers of the benchmark scripts: interleaved timing, the machine's description, tables and JSON.

Every benchmark times its variants side by side in one process, round-robin (variant A, B, C, then
A, B, C again ...), and reports medians, so slow drift of a shared machine hits every variant alike
and the ratios between rows are the figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from equicr.hardware import cpu_has_native_bf16

# Benchmarks run in the development checkout and use its test data (tests/fixtures/paths.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.paths import REPO_ROOT, SHARED_DATA_DIR  # noqa: E402, F401 - re-exported for the scripts

#: Where the scripts write their JSON unless told otherwise.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def real_bench_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark that scores a model on the real data: --model, --root, --out."""
    from equicr.paths import SHIPPED_MODEL

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHIPPED_MODEL))
    parser.add_argument("--root", type=Path, default=SHARED_DATA_DIR, help="the shared real-data folder")
    parser.add_argument("--out", type=Path, default=None, help="the JSON to write (default: bench/results/NAME.json)")
    return parser


def interleaved_medians(variants: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each variant, timed round-robin after ``warmup`` untimed rounds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(warmup + rounds):
        for name, call in variants.items():
            started = time.perf_counter()
            call()
            if round_number >= warmup:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def machine() -> dict:
    """What the numbers were measured on."""
    flags = ""
    if Path("/proc/cpuinfo").is_file():
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    model = platform.processor()
    if Path("/proc/cpuinfo").is_file():
        model = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")), model,
        )  # fmt: skip
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": "avx512_bf16" in flags.split(),
        "amx_bf16": "amx_bf16" in flags.split(),
        "native_bf16": cpu_has_native_bf16(),  # what --precision auto goes by (torch's own detection)
        "cpu_flags": sorted(flag for flag in flags.split()[2:] if flag.startswith(("avx", "amx", "fma", "f16c"))),
        "cuda": torch.cuda.is_available(),
    }


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Rows as an aligned text table: floats with 3 decimals, small ones in scientific notation."""

    def cell(value) -> str:
        if isinstance(value, float):
            if value != 0 and abs(value) < 0.01:
                return f"{value:.1e}"
            return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    cells = [[cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.rjust(width) for column, width in zip(columns, widths, strict=True)))
    for line in cells:
        print("  ".join(value.rjust(width) for value, width in zip(line, widths, strict=True)))


def write_results(name: str, payload: dict, out: Path | None = None) -> Path:
    """Write ``payload`` with the machine description and the command line as JSON; return the path."""
    import sys

    out = out or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "command": " ".join(["python", *sys.argv]), "machine": machine(), **payload}
    out.write_text(json.dumps(document, indent=2))
    print(f"wrote {out}")
    return out


#: The grid of every tiled bench scene (UTM 31N, 10 m).
BENCH_GEO = ("EPSG:32631", (10, 0, 300000, 0, -10, 5000000))


def tiled_image(image, rows: slice, cols: slice):
    """The window ``rows, cols`` of ``image`` (bands, H, W) repeated endlessly in both directions."""
    import numpy as np

    _, height, width = image.shape
    return image[:, np.arange(rows.start, rows.stop) % height][:, :, np.arange(cols.start, cols.stop) % width]


def write_tiled_scene(path: Path, size: int):
    """A scenes collection at ``path`` with one ``size`` px scene "tile"; returns (scene group, source scene).

    The scene repeats a seeded 1024 px synthetic scene, written window by window, so memory stays
    that of one window at any size.
    """
    import numpy as np

    from equicr.data.rasters import GeoReference
    from equicr.data.scenes import chunk_windows
    from equicr.data.synthetic import make_scene
    from equicr.ingest.scenes import create_scene, create_scenes, finish_scene, write_scene_window

    base = make_scene(np.random.default_rng(0), (1024, 1024), cover=0.4)
    scene = create_scene(create_scenes(path), "tile", size, size, GeoReference(*BENCH_GEO))
    for window in chunk_windows(size, size):
        _, _, rows, cols = window
        write_scene_window(scene, window, tiled_image(base.s1, rows, cols), tiled_image(base.s2_cloudy, rows, cols))
    finish_scene(scene)
    return scene, base
