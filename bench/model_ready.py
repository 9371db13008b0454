"""How long until a full-size model is ready, and how large its ONNX file is.

    python bench/model_ready.py [--skip-onnx] [--out bench/results/model_ready.json]

PyTorch: built fresh (He init), built bare, and loaded from a checkpoint (train mode, and eval mode,
where escnn expands and caches the filters). ONNX (EquiCR): the compact file (basis coefficients,
filters expanded in the graph) against the expanded one (filters stored): file size against the
trainable parameters' bytes, time until an ONNX Runtime session is ready (the compact file's
expansion is folded at load), and the largest difference between the two files' outputs. Variants
run one after another in one process; quote the ratios, absolute seconds drift on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import print_table, write_results

from equicr.checkpoint import load_model, save_checkpoint
from equicr.deploy.export import export_onnx
from equicr.deploy.runtime import CloudRemovalSession
from equicr.models import ModelConfig, build_model, count_parameters


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def onnx_rows(model, config: ModelConfig, folder: Path) -> list[dict]:
    """Size, session start-up and output agreement of the compact and the expanded EquiCR file."""
    parameter_bytes = 4 * count_parameters(model)
    inputs = np.random.default_rng(0).uniform(0, 2, (1, config.in_channels, 40, 40)).astype(np.float32)
    rows, outputs = [], {}
    for filters in ("basis", "expanded"):
        path, export_seconds = timed(lambda f=filters: export_onnx(model, config, folder / f"{f}.onnx", filters=f))
        session, ready_seconds = timed(lambda p=path: CloudRemovalSession(p, providers=["CPUExecutionProvider"]))
        outputs[filters] = session.run_network(inputs)
        rows.append({
            "file": f"EquiCR, filters {filters}", "MB": path.stat().st_size / 1e6,
            "x parameter bytes": path.stat().st_size / parameter_bytes, "export s": export_seconds,
            "session ready s": ready_seconds,
        })  # fmt: skip
    difference = np.abs(outputs["basis"] - outputs["expanded"]).max() / np.abs(outputs["expanded"]).max()
    rows[0]["max relative difference to expanded"] = float(difference)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-onnx", action="store_true", help="only the PyTorch timings")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/model_ready.json)")
    args = parser.parse_args()
    rows, files = [], []
    for architecture in ("equicr", "dsen2cr"):
        config = ModelConfig(architecture)
        model, init_seconds = timed(lambda config=config: build_model(config))
        _, bare_seconds = timed(lambda config=config: build_model(config, initialize=False))
        with tempfile.TemporaryDirectory() as folder:
            path = save_checkpoint(Path(folder) / "model.pt", model, config)
            _, load_seconds = timed(lambda path=path: load_model(path, eval_mode=False))
            _, load_eval_seconds = timed(lambda path=path: load_model(path, eval_mode=True))
            if architecture == "equicr" and not args.skip_onnx:
                files = onnx_rows(model.eval(), config, Path(folder))
        rows.append({
            "model": architecture, "parameters": count_parameters(model), "build + He init s": init_seconds,
            "build bare s": bare_seconds, "load checkpoint s": load_seconds, "load + eval s": load_eval_seconds,
        })  # fmt: skip
    print_table(rows, list(rows[0]))
    if files:
        print_table(files, list(files[0]))
    write_results("model_ready", {"pytorch": rows, "onnx": files}, args.out)


if __name__ == "__main__":
    main()
