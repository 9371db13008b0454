"""The shipped model and its card: the best headline model of a test-bench preset, copied into the package.

Every number on the card is read from the work folder's evaluation summaries
(:mod:`equicr.experiments.runner`), so the card says what the model measured, not what it should.
"""

from __future__ import annotations

import json
from pathlib import Path

from equicr.deploy.predictors import CLOUDY_INPUT
from equicr.evaluation.report import read_summary
from equicr.experiments.presets import VARIANTS, ExperimentPreset
from equicr.experiments.results import best_headline_run
from equicr.experiments.runner import AGAINST_INPUT, MANIFEST, evaluation_folder


def ship_model(preset: ExperimentPreset, work: str | Path, out: Path) -> Path:
    """Copy the best ``real`` model to ``out`` (weights and config only) and write MODEL_CARD.md beside it.

    Every number on the card is read from the work folder's evaluation summaries.
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

    def scores(name: str, target: str) -> str:
        mean = read_summary(evaluation_folder(work, target, name))["mean"]
        return f"PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f}, SAM {mean['sam']:.2f} deg, MAE {mean['mae']:.4f}"

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
- **Scores on the real test bench** (256 px, 10 m, never seen in training):
  - 25 real cloudy/clear pairs: {scores(run, "real-clouds")};
    leaving the clouds in: {scores(CLOUDY_INPUT, "real-clouds")}.
  - 12 real triplets: {scores(run, "triplets")}; leaving the clouds in: {scores(CLOUDY_INPUT, "triplets")}.
  - 19 clear "cloudy" dates (do no harm), against its own input: {scores(run, AGAINST_INPUT)}.
- **Limits**: trained on {manifest["backgrounds"]} backgrounds from {len(manifest["background_scenes"])} scenes
  with simulated clouds. It thins haze and thin cloud and dims thick cloud, but cannot recover ground under
  thick cloud over land it has never seen; it shifts colours (its SAM is worse than the cloudy input's) and
  gives bright farmland a bluish, textured cast; overcast becomes invented texture (see the report panels).
  44 thousand parameters, 8 epochs on two CPU
  cores: a demonstration of the pipeline on real imagery, not the paper's model (18.7 million parameters,
  SEN12MS-CR). The full report is `docs/results-real.md`.
"""
    (out.parent / "MODEL_CARD.md").write_text(card)
    return out
