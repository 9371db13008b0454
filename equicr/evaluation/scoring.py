"""Per-image metrics of a model on a split of a patches collection, in this process or on Ray Data.

One :class:`PatchScorer` reads a batch of patches, predicts them and scores each image; the same
class runs directly on small splits and as a Ray Data actor pool on large ones, so both paths give
the same records. The model may be a checkpoint, a run folder, an ``.onnx`` file or
:data:`CLOUDY_INPUT`, the "leave the clouds in" baseline every table reports beside the models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from equicr.actor_pool import claim_cores, map_with_actors
from equicr.data.dataset import PatchDataset
from equicr.decloud.predictors import Predictor, load_predictor
from equicr.evaluation.aggregate import METRICS
from equicr.metrics import image_metrics
from equicr.models import ModelConfig
from equicr.scaling import network_to_reflectance

#: The model name that scores the cloudy input itself against the cloud-free target.
CLOUDY_INPUT = "cloudy-input"
#: Splits with at least this many patches are scored on Ray Data unless told otherwise.
RAY_MIN_PATCHES = 512
#: Patches per batch: one forward pass and one Ray Data block each.
SCORE_BATCH = 8


class CloudyInputPredictor:
    """The baseline as a predictor: its "prediction" is the cloudy optical input, unchanged."""

    config = ModelConfig(input_mode="opt")
    source = {"backend": CLOUDY_INPUT}

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return inputs


def predictor_for(model: str | Path, device: str = "cpu", precision: str = "fp32") -> Predictor:
    """The predictor a model name calls for, the cloudy-input baseline included."""
    return CloudyInputPredictor() if str(model) == CLOUDY_INPUT else load_predictor(model, device, precision)


class PatchScorer:
    """Scores batches of positions in a split: read the patches, predict them, compute the metrics on reflectance."""

    def __init__(
        self, model: str, collection: str, split: str, device: str = "cpu", precision: str = "fp32",
        threads: int | None = None,
    ) -> None:  # fmt: skip
        claim_cores(threads)
        self.predictor = predictor_for(model, device, precision)
        self.dataset = PatchDataset(collection, split, input_mode=self.predictor.config.input_mode)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        samples = [self.dataset[int(position)] for position in batch["position"]]
        inputs = np.stack([sample["inputs"].numpy() for sample in samples])
        prediction = torch.from_numpy(self.predictor.predict(inputs))
        target = torch.stack([sample["target"] for sample in samples])
        metrics = image_metrics(network_to_reflectance(prediction), network_to_reflectance(target))
        return {
            "position": np.asarray(batch["position"]),
            "patch_id": np.array([sample["patch_id"] for sample in samples]),
            "cloud_cover": np.array([sample["cloud_cover"] for sample in samples], dtype=np.float64),
            **{name: metrics[name].double().numpy() for name in METRICS},
        }


def evaluate_split(
    model: str | Path,
    collection: str | Path,
    split: str = "test",
    use_ray: bool | None = None,
    pool_size: int = 1,
    gpus_per_actor: float = 0,
    progress: bool = True,
    precision: str = "fp32",
    cpus_per_actor: int = 1,
) -> list[dict]:
    """Per-image metrics and cloud cover of every complete patch of ``split``, in the split's order.

    ``use_ray=None`` scores splits of :data:`RAY_MIN_PATCHES` or more on a Ray Data actor pool of
    ``pool_size`` actors (the cluster ``ray.init()`` joins) and smaller ones in this process.
    """
    model, collection = str(model), str(collection)
    count = len(PatchDataset(collection, split))
    use_ray = count >= RAY_MIN_PATCHES if use_ray is None else use_ray
    positions = [{"position": p} for p in range(count)]
    scorer_args = {"model": model, "collection": collection, "split": split,
                   "device": "cuda" if gpus_per_actor else "cpu", "precision": precision}  # fmt: skip
    records: dict[int, dict] = {}
    columns = ["patch_id", "cloud_cover", *METRICS]
    with tqdm(total=count, desc=f"evaluate {split}", unit="patch", disable=not progress) as bar:
        batches = map_with_actors(
            positions, PatchScorer, scorer_args, SCORE_BATCH, pool_size, cpus_per_actor, gpus_per_actor, use_ray
        )
        for batch in batches:
            for position, *values in zip(batch["position"], *(batch[c] for c in columns), strict=True):
                records[int(position)] = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
            bar.update(len(batch["position"]))
    return [records[position] for position in sorted(records)]


def _plain(value):
    """A numpy scalar from a batch as a plain str or float (for CSV and JSON)."""
    return str(value) if isinstance(value, np.str_ | str) else float(value)
