"""The shipped model and its card: the best headline model of a test-bench preset, copied into the package.

Every score on the card is measured on the real test bench by :func:`card_scores`, for what
``jobs/decloud.py`` writes (the default post-processing) and for the network alone, so the card says
what the model does, not what it should; ``python -m equicr.experiments.model_card --root DATA``
measures them again and rewrites the card's scores (tests/deploy/test_shipped_model.py re-measures).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from equicr.data.real import DO_NO_HARM, REAL_CLOUDS, TRIPLETS, VIRGINIA_UNSEEN
from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.evaluation.aggregate import RAW_PREFIX, mean_of_records
from equicr.experiments.presets import VARIANTS, ExperimentPreset
from equicr.experiments.results import best_headline_run
from equicr.experiments.runner import MANIFEST
from equicr.postprocessing import BLEND_HIGH, BLEND_LOW, DEFAULT_POSTPROCESSING

#: The card's measured section lies between these lines.
SCORES_BEGIN = "<!-- scores: measured by equicr.experiments.model_card.card_scores; do not edit by hand -->"
SCORES_END = "<!-- end of scores -->"
#: What each test-bench collection is called on the card.
BENCH_LABELS = {
    REAL_CLOUDS: "25 real cloudy/clear pairs", TRIPLETS: "12 real triplets",
    DO_NO_HARM: "19 clear \"cloudy\" dates (do no harm)", VIRGINIA_UNSEEN: "unseen clear land (Virginia)",
}  # fmt: skip


def _scores(mean: dict) -> str:
    return f"PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f}, SAM {mean['sam']:.2f} deg, MAE {mean['mae']:.4f}"


def card_scores(model: str | Path, bench: dict[str, str]) -> str:
    """The card's score lines: per test-bench collection, what decloud writes, the network alone, the cloudy input.

    On clear inputs (do-no-harm, Virginia) also against the model's own input: how much it changes
    what needs no change.
    """
    from equicr.evaluation.scoring import evaluate_split

    lines = [SCORES_BEGIN, "- **Scores on the real test bench** (256 px, 10 m, never seen in training). "
             f"\"Written\" is what `jobs/decloud.py` writes (post-processing `{DEFAULT_POSTPROCESSING}`), "
             "\"network\" the network alone (`--postprocessing raw`), \"cloudy\" leaving the clouds in:"]  # fmt: skip
    for name, label in BENCH_LABELS.items():
        if name not in bench:
            continue
        records = evaluate_split(model, bench[name], progress=False)
        cloudy = mean_of_records(evaluate_split(CLOUDY_INPUT, bench[name], progress=False))
        lines.append(f"  - {label}, {len(records)} images: written {_scores(mean_of_records(records))}; "
                     f"network {_scores(mean_of_records(records, RAW_PREFIX))}; cloudy {_scores(cloudy)}.")  # fmt: skip
        if name == DO_NO_HARM:  # (the Virginia patches are their own targets already)
            own = evaluate_split(model, bench[name], progress=False, against_input=True)
            lines.append(f"    Against its own input: written {_scores(mean_of_records(own))}; "
                         f"network {_scores(mean_of_records(own, RAW_PREFIX))}.")  # fmt: skip
    return "\n".join([*lines, SCORES_END])


def write_card_scores(card: Path, model: str | Path, bench: dict[str, str]) -> None:
    """Measure the scores again and replace the card's scores section with them."""
    text = card.read_text()
    start, end = text.index(SCORES_BEGIN), text.index(SCORES_END) + len(SCORES_END)
    card.write_text(text[:start] + card_scores(model, bench) + text[end:])


def ship_model(preset: ExperimentPreset, work: str | Path, out: Path) -> Path:
    """Copy the best ``real`` model to ``out`` (weights and config only) and write MODEL_CARD.md beside it.

    The card's scores are measured on the test-bench collections the run was scored on.
    """
    from equicr.checkpoint import load_model, save_checkpoint
    from equicr.storage import file_sha256

    work = Path(work)
    manifest = json.loads((work / MANIFEST).read_text())
    run = best_headline_run(preset, work)
    entry = manifest["runs"][run]
    model, checkpoint = load_model(entry["checkpoint"])
    config = checkpoint.config
    save_checkpoint(out, model, config, source_run=run)

    variant = VARIANTS[entry["variant"]]
    architecture, augment = variant.architecture, variant.augment
    card = f"""# Model card: `{out.name}`

A small cloud-removal network for Sentinel-2 L1C, shipped for a first look
(`jobs/decloud.py` uses it when no `--model` is given; `jobs/demo.py` scores it on a real patch).

- **Model**: {variant.label} ({architecture}, width {config.width}, {config.num_blocks} blocks, group
  {config.group}), {entry["parameters"]:,} parameters; input `{config.input_mode}` (the cloudy 13-band image
  only; Sentinel-1 is not used). Run `{run}` of preset `{preset.name}` (the best of its headline runs on the
  real-cloud pairs), {entry["epochs"]} epochs{", trained with rotations and flips" if augment else ""}.
- **SHA-256**: `{file_sha256(out)}`.
- **Training data**: {manifest["train_size"]} composites of {preset.data.size} px: SatelliteCloudGenerator
  clouds and shadows over {manifest["backgrounds"]} real clear Sentinel-2 patches of SEN12MS-CR
  (scenes {", ".join(manifest["background_scenes"])}), none of them from a test-bench scene.
{card_scores(out, manifest["targets"])}
- **Limits**: trained on {manifest["backgrounds"]} backgrounds from {len(manifest["background_scenes"])} scenes
  with simulated clouds. The network alone changes clear ground it should leave alone (unseen clear land
  comes back darker and bluer), which the default post-processing prevents: it keeps the input where
  s2cloudless sees no cloud and blends in the prediction only where it does (cloud probability
  {BLEND_LOW} to {BLEND_HIGH}).
  It thins haze and thin cloud and dims thick cloud, but cannot recover ground under thick cloud over land
  it has never seen; under cloud its colours are off (SAM worse than the cloudy input's, written and raw)
  and bright farmland gets a bluish, textured cast; overcast becomes invented texture (see the report panels).
  44 thousand parameters, 8 epochs on two CPU
  cores: a demonstration of the pipeline on real imagery, not the paper's model (18.7 million parameters,
  SEN12MS-CR). The full report is `docs/results-real.md`.
"""
    (out.parent / "MODEL_CARD.md").write_text(card)
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure the shipped model's scores again and rewrite its card (the real-data folder is needed)."""
    from equicr.data.real import load_real_data
    from equicr.ingest.geotiffs import write_test_bench
    from equicr.paths import SHIPPED_MODEL

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the real-data folder (../shared/data)")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(load_real_data(args.root), Path(work))
        write_card_scores(args.model.parent / "MODEL_CARD.md", args.model, bench)
    print(f"{args.model.parent / 'MODEL_CARD.md'}: scores measured again")


if __name__ == "__main__":
    main()
