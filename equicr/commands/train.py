r"""Train EquiCR or DSen2-CR with Ray Train.

    equicr train     # embedded default: local Ray, real ground under simulated clouds, small EquiCR
    equicr train --data data/sen12mscr.zarr --architecture dsen2cr --subset-size 1000
    ray job submit --working-dir . -- python jobs/train.py --preset paper --data s3://bucket/sen12mscr.zarr \
        --storage s3://bucket/runs

Rerunning the same command (same --run-name and --storage) resumes from the latest checkpoint.
"""

from __future__ import annotations

import sys

from equicr.cli import parser_for
from equicr.training.arguments import add_training_arguments, config_from_args


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_training_arguments(parser)
    config = config_from_args(parser.parse_args(argv))

    from equicr.checkpoint import best_checkpoint_file
    from equicr.storage import join, local_path, redact
    from equicr.training.launch import cloudy_input_metrics, run_training, save_validation_panels, with_data
    from equicr.training.loop import HISTORY_FILE, format_progress

    config = with_data(config)
    print(
        f"training {config.model} for {config.epochs} epochs on {config.num_workers} worker(s); run {config.run_name}"
    )
    baseline = cloudy_input_metrics(config.data)
    print("baseline, the cloudy input itself on val:  " + "  ".join(f"{k} {v:.4f}" for k, v in baseline.items()))
    result = run_training(config)
    if result.error:
        print(f"training failed: {result.error}", file=sys.stderr)
        return 1
    print(f"final: {format_progress(result.metrics, config.epochs)}")  # the same epoch as the last epoch line
    best = best_checkpoint_file(result)
    print(f"best checkpoint: {redact(best) if best else None}")
    if best is not None:
        local = local_path(best)  # a copy in the local cache when the run's storage is an object store
        panels = save_validation_panels(local, config.data, local.parent / "validation_samples.png")
        print(f"validation samples (cloudy input, prediction, target; SAR too where the model reads it): {panels}")
    print(f"metric history: {redact(join(config.storage_path, config.run_name, HISTORY_FILE))}")
    return 0
