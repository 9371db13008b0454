r"""Reproduce the paper's experiments (Table I, Table II, Fig. 3) end to end from one command.

    equicr experiments                                  # cpu preset here: ~30 min on 2 cores
    equicr experiments --preset cpu --real-data REAL_DATA_DIR --report docs/results.md
    equicr experiments --preset real --real-data REAL_DATA_DIR --report docs/results-real.md   # ~1.5 h
    ray job submit --working-dir . -- python jobs/experiments.py --preset paper \
        --data s3://bucket/sen12mscr.zarr --storage s3://bucket/runs --work /mnt/experiments

Trains every run of the preset with Ray Train, evaluates each, and writes the report. Presets
`cpu` and `paper` train 2 architectures x 3 input modes plus 2 training-set sizes and score the
test split (and the real triplets of --real-data when given): tables, cover-bin chart, sample
panels. Preset `real` trains four arms (EquiCR p4, EquiCR p4m, DSen2-CR, DSen2-CR with
rotations and flips) on composites of the real clear ground of --real-data under simulated
clouds and judges them on its real-cloud test bench. Rerunning the same command resumes where
it stopped.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from equicr.cli import add_real_data_option, parser_for
from equicr.errors import ITEMS_FAILED, UserError
from equicr.experiments.presets import PRESETS
from equicr.paths import DEFAULT_OUTPUTS_DIR


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="(default: %(default)s)")
    parser.add_argument(
        "--work", type=Path, help=f"data, runs and evaluations (default: {DEFAULT_OUTPUTS_DIR}/experiments/PRESET)"
    )
    parser.add_argument("--report", type=Path, help="Markdown report; figures go beside it (default: WORK/results.md)")
    parser.add_argument("--data", help="patches collection (path or URI); default: the data the preset makes")
    parser.add_argument("--storage", help="Ray Train storage for checkpoints (default: WORK/runs)")
    add_real_data_option(parser, "--real-data")
    parser.add_argument(
        "--ship-model", type=Path, metavar="FILE",
        help="test-bench presets: copy the best headline model here (weights and config) with MODEL_CARD.md beside it",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = PRESETS[args.preset]
    work = args.work or DEFAULT_OUTPUTS_DIR / "experiments" / preset.name
    report = args.report or work / "results.md"
    command = shlex.join(["python", "jobs/experiments.py", *(sys.argv[1:] if argv is None else argv)])
    if args.ship_model and not preset.test_bench:
        raise UserError(f"--ship-model ships the best model on the real test bench; preset {preset.name} has none")

    from equicr.experiments.results import write_results
    from equicr.experiments.runner import run_experiments

    try:
        run_experiments(preset, work, args.data, args.storage, args.real_data)
    except RuntimeError as error:  # a training run failed; Ray's error says why
        print(f"error: {error}", file=sys.stderr)
        return ITEMS_FAILED
    print(f"report: {write_results(preset, work, report, command)}")
    if args.ship_model:
        from equicr.experiments.model_card import ship_model

        print(f"shipped: {ship_model(preset, work, args.ship_model)} (model card beside it)")
    return 0
