"""The shipped model and its card: the best headline model of a test-bench preset, copied into the package.

Every score on the card is measured on the real test bench by :func:`card_scores`, for what
``jobs/decloud.py`` writes (the default post-processing) and for the network alone, so the card says
what the model does, not what it should; ``python -m equicr.experiments.model_card --root REAL_DATA_DIR``
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
from equicr.evaluation.thickness import THICK_EXCESS, THIN_EXCESS, thickness_scores
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


def thickness_line(scores: dict[str, dict]) -> str:
    """The card's line on thick and thin cloud apart (:mod:`equicr.evaluation.thickness`)."""
    parts = [
        f"{kind} {row['images']} images ({row['share']:.0%} of their pixels): written PSNR {row['written']:.2f} dB, "
        f"network {row['raw']:.2f} dB, cloudy {row['cloudy']:.2f} dB (gain {row['written'] - row['cloudy']:+.2f} dB)"
        for kind, row in scores.items()
        if row["images"]
    ]
    return (f"Over the pixels of each kind (against the clear date: visible bands brightened by at least "
            f"{THICK_EXCESS} reflectance: thick cloud; by {THIN_EXCESS} to {THICK_EXCESS}: thin cloud; less: clear "
            f"ground): {'; '.join(parts)}.")  # fmt: skip


def card_scores(model: str | Path, bench: dict[str, str]) -> str:
    """The card's score lines: per test-bench collection, what decloud writes, the network alone, the cloudy input.

    Under real clouds also thick cloud, thin cloud and clear ground apart; on clear inputs
    (do-no-harm, Virginia) also against the model's own input: how much it changes what needs no
    change.
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
        if name in (REAL_CLOUDS, TRIPLETS):
            lines.append(f"    {thickness_line(thickness_scores(model, bench[name]))}")
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

    work = Path(work)
    manifest = json.loads((work / MANIFEST).read_text())
    run = best_headline_run(preset, work)
    entry = manifest["runs"][run]
    model, checkpoint = load_model(entry["checkpoint"])
    config = checkpoint.config
    save_checkpoint(out, model, config, source_run=run)

    variant = VARIANTS[entry["variant"]]
    model_line = (
        f"{variant.label} ({variant.architecture}, width {config.width}, {config.num_blocks} blocks, group "
        f"{config.group}), {entry['parameters']:,} parameters; input `{config.input_mode}`. Run `{run}` of preset "
        f"`{preset.name}` (the best of its headline runs on the real-cloud pairs), {entry['epochs']} epochs"
        f"{', trained with rotations and flips' if variant.augment else ''}."
    )
    scenes = ", ".join(manifest["background_scenes"])
    training_line = (
        f"{manifest['train_size']} composites of {preset.data.size} px: SatelliteCloudGenerator clouds and shadows "
        f"over {manifest['backgrounds']} real clear Sentinel-2 patches (scenes {scenes}), none of them from a "
        "test-bench scene."
    )
    return write_card(out, model_line, training_line, manifest["targets"])


def ship_trained(run: str | Path, bench: dict[str, str], out: Path) -> Path:
    """Copy the model of a ``jobs/train.py`` run to ``out`` (weights and config only) and write its card beside it.

    What the card says of the model and its training is read from the checkpoint (its training
    config) and from the composites collection it trained on (their provenance); the scores are
    measured on ``bench``.
    """
    from equicr.checkpoint import load_model, resolve_checkpoint, save_checkpoint
    from equicr.data.collection import open_collection
    from equicr.data.composite import kind_shares
    from equicr.models import count_parameters

    model, checkpoint = load_model(resolve_checkpoint(run))
    config, training = checkpoint.config, checkpoint.metadata["train_config"]
    save_checkpoint(out, model, config, source_run=training["run_name"])
    composite = dict(open_collection(training["data"], "patches").attrs["composite"])
    loss = "L1" + (f" + {training['sam_weight']} x spectral angle" if training.get("sam_weight") else "")
    model_line = (
        f"{'EquiCR' if config.architecture == 'equicr' else 'DSen2-CR'} ({config.architecture}, width {config.width}, "
        f"{config.num_blocks} blocks, group {config.group}), {count_parameters(model):,} parameters; input "
        f"`{config.input_mode}`. Run `{training['run_name']}` of `jobs/train.py`: {training['epochs']} epochs, batch "
        f"{training['batch_size']}, learning rate {training['learning_rate']}, loss {loss}, seed {training['seed']}"
        f"{', rotations and flips' if training['augment'] else ''}; chosen without looking at the test bench."
    )
    kinds = kind_shares(composite["kinds"])
    training_line = (
        f'composites of {composite["size"]} px (seed {composite["seed"]}; cloud kinds {kinds}, "clear" '
        f"having none): SatelliteCloudGenerator clouds over {len(composite['backgrounds'])} real clear Sentinel-2 "
        "patches, the shared folder's backgrounds and the land of the Virginia product's training area; no "
        "test-bench scene, and none of the Virginia product's unseen area."
    )
    return write_card(out, model_line, training_line, bench)


def write_card(out: Path, model_line: str, training_line: str, bench: dict[str, str]) -> Path:
    """Write MODEL_CARD.md beside the model ``out``: what it is, what it trained on, what it scores, its limits."""
    from equicr.storage import file_sha256

    card = f"""# Model card: `{out.name}`

A small cloud-removal network for Sentinel-2 L1C, shipped for a first look
(`jobs/decloud.py` uses it when no `--model` is given; `jobs/demo.py` scores it on a real patch).

- **Model**: {model_line}
- **SHA-256**: `{file_sha256(out)}`.
- **Training data**: {training_line}
{card_scores(out, bench)}
- **Limits**: simulated clouds over little real ground (a few hundred square kilometres). The default
  post-processing keeps the input where s2cloudless sees no cloud and blends in the prediction only where
  it does (cloud probability {BLEND_LOW} to {BLEND_HIGH}), so clear ground comes back as it was; where
  s2cloudless misses a cloud, as it misses some thin cloud, the cloud stays (compare "written" and
  "network" on thin cloud above). It thins haze and dims thick cloud, but
  cannot recover ground under thick cloud over land it has never seen (an optical-only model cannot know
  what is there), and overcast becomes invented texture. A demonstration of the pipeline on real imagery,
  not the paper's model (18.7 million parameters, SEN12MS-CR).
"""
    (out.parent / "MODEL_CARD.md").write_text(card)
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure the shipped model's scores again and rewrite its card, or ship a run's model (needs the real data)."""
    from equicr.data.real import load_real_data
    from equicr.ingest.geotiffs import write_test_bench
    from equicr.paths import SHIPPED_MODEL

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the folder of real Sentinel data")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--ship", help="a jobs/train.py run folder: copy its model to --model and write a new card")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(load_real_data(args.root), Path(work))
        if args.ship:
            ship_trained(args.ship, bench, args.model)
        else:
            write_card_scores(args.model.parent / "MODEL_CARD.md", args.model, bench)
    print(f"{args.model.parent / 'MODEL_CARD.md'}: scores measured")


if __name__ == "__main__":
    main()
