"""How long until a full-size model is ready: built fresh (He init), built bare, and loaded from a checkpoint.

    python bench/model_ready.py [--out bench/results/model_ready.json]

Prints a table and writes JSON. Each variant runs in the same process, one after another, so the
ratios between rows are the figures to quote; absolute seconds drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from equicr.checkpoint import load_model, save_checkpoint
from equicr.models import ModelConfig, build_model, count_parameters


def timed(action):
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/results/model_ready.json"))
    args = parser.parse_args()
    rows = []
    for architecture in ("equicr", "dsen2cr"):
        config = ModelConfig(architecture)
        model, init_seconds = timed(lambda config=config: build_model(config))
        _, bare_seconds = timed(lambda config=config: build_model(config, initialize=False))
        with tempfile.TemporaryDirectory() as folder:
            path = save_checkpoint(Path(folder) / "model.pt", model, config)
            _, load_seconds = timed(lambda path=path: load_model(path, eval_mode=False))
            _, load_eval_seconds = timed(lambda path=path: load_model(path, eval_mode=True))
        rows.append(
            {
                "architecture": architecture,
                "parameters": count_parameters(model),
                "build_he_init_s": init_seconds,
                "build_uninitialised_s": bare_seconds,
                "load_checkpoint_train_mode_s": load_seconds,
                "load_checkpoint_eval_mode_s": load_eval_seconds,
            }
        )
    header = f"{'model':<8} {'params':>11} {'build+init':>11} {'build bare':>11} {'load':>8} {'load+eval':>10}"
    print(header)
    for row in rows:
        print(
            f"{row['architecture']:<8} {row['parameters']:>11,} {row['build_he_init_s']:>10.2f}s "
            f"{row['build_uninitialised_s']:>10.2f}s {row['load_checkpoint_train_mode_s']:>7.2f}s "
            f"{row['load_checkpoint_eval_mode_s']:>9.2f}s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
