r"""Reproduce the paper's experiments (Table I, Table II, Fig. 3) end to end from one command.

    python jobs/experiments.py                                  # cpu preset here: ~30 min on 2 cores
    python jobs/experiments.py --preset cpu --report docs/results.md
    python jobs/experiments.py --preset real --report docs/results-real.md   # ~1 h: real ground, real clouds
    ray job submit --working-dir . -- python jobs/experiments.py --preset paper \
        --data s3://bucket/sen12mscr.zarr --storage s3://bucket/runs --work /mnt/experiments

Trains every run with Ray Train (2 architectures x 3 input modes, plus 2 training-set sizes),
evaluates each on the test split and on the real patches in ../shared/data, and writes the report
(tables, cover-bin chart, sample panels). Rerunning the same command resumes where it stopped.
Preset `real` trains on composites of real clear backgrounds under simulated clouds and judges
on the real-cloud test bench instead (equicr/experiments/real.py); it needs the shared data folder.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from equicr.cli import parser_for, run_job
from equicr.errors import UserError
from equicr.experiments.presets import PRESETS
from equicr.paths import REPO_ROOT, SHARED_DATA_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--preset", choices=[*sorted(PRESETS), "real"], default="cpu", help="(default: %(default)s)")
    parser.add_argument("--work", type=Path, help="data, runs and evaluations (default: outputs/experiments/PRESET)")
    parser.add_argument("--report", type=Path, help="Markdown report; figures go beside it (default: WORK/results.md)")
    parser.add_argument("--data", help="patches collection (path or URI); default: the preset's synthetic data")
    parser.add_argument("--storage", help="Ray Train storage for checkpoints (default: WORK/runs)")
    parser.add_argument(
        "--real-data", type=Path, default=SHARED_DATA_DIR,
        help="folder of real patches to evaluate on too (default: %(default)s; skipped when missing)",
    )  # fmt: skip
    parser.add_argument(
        "--ship-model", action="store_true",
        help="preset real: copy its best model into the package (equicr/assets/models) with its model card",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or REPO_ROOT / "outputs" / "experiments" / args.preset
    report = args.report or work / "results.md"
    command = shlex.join(["python", "jobs/experiments.py", *(sys.argv[1:] if argv is None else argv)])
    if args.preset == "real" and args.data:
        raise UserError("preset real makes its own training data (composites of --real-data); drop --data")
    if args.ship_model and args.preset != "real":
        raise UserError("--ship-model ships the best model of preset real; add --preset real")
    try:
        if args.preset == "real":
            from equicr.experiments.real import REAL_PRESET, run_real_experiments, ship_model, write_real_results
            from equicr.paths import SHIPPED_MODEL

            run_real_experiments(REAL_PRESET, work, args.real_data, args.storage)
            written = write_real_results(REAL_PRESET, work, report, command)
            if args.ship_model:
                print(f"shipped: {ship_model(REAL_PRESET, work, SHIPPED_MODEL)} (model card beside it)")
        else:
            from equicr.experiments.results import write_results
            from equicr.experiments.runner import run_experiments

            preset = PRESETS[args.preset]
            run_experiments(preset, work, args.data, args.storage, args.real_data)
            written = write_results(preset, work, report, command)
    except RuntimeError as error:  # a training run failed; Ray's error says why
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"report: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(run_job(main))
