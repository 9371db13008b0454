"""Per-image metrics of a model on a split of a patches collection, in this process or on Ray Data.

What is scored is what declouding writes: the prediction post-processed against the cloudy input
(:mod:`equicr.postprocessing`, by default the same as ``jobs/decloud.py``'s), and beside it the
network alone (``raw_*`` columns). One :class:`PatchScorer` reads a batch of patches, predicts them
and scores each image; the same
class runs directly on small splits and as a Ray Data actor pool on large ones, so both paths give
the same records. The model may be a checkpoint, a run folder, an ``.onnx`` file or
:data:`CLOUDY_INPUT`, the "leave the clouds in" baseline every table reports beside the models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from equicr.bands import has_sar_input
from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, image_clouds
from equicr.data.collection import collection_has_sar, open_collection, read_pixels
from equicr.data.dataset import PatchDataset
from equicr.deploy.predictors import ModelReference, describe, load_predictor, resolve_model
from equicr.errors import UserError
from equicr.evaluation.aggregate import METRICS, RAW_PREFIX, RECORD_COLUMNS
from equicr.executors import AUTO_RAY_MIN_ITEMS, ActorPool, claim_cores, map_with_actors
from equicr.metrics import image_metrics
from equicr.postprocessing import DEFAULT_POSTPROCESSING, combine, needs_clouds
from equicr.scaling import network_to_reflectance, optical_dn_to_network, optical_valid_mask, predicted_optical_dn
from equicr.storage import redact

#: Patches per batch: one forward pass and one Ray Data block each.
SCORE_BATCH = 8


class PatchScorer:
    """Scores batches of positions in a split: read the patches, predict them, compute the metrics on reflectance."""

    def __init__(
        self, model: str | ModelReference, collection: str, split: str, device: str = "cpu", precision: str = "fp32",
        threads: int | None = None, against_input: bool = False, postprocessing: str = DEFAULT_POSTPROCESSING,
        cloud_resolution_m: int = SCENE_CLOUD_RESOLUTION_M,
    ) -> None:  # fmt: skip
        claim_cores(threads)
        self.postprocessing, self.cloud_resolution_m = postprocessing, cloud_resolution_m
        self.group = open_collection(collection, "patches")
        self.predictor = load_predictor(model, device, precision)
        if self.predictor.reference.config is not None:  # a network: say where and in which precision it runs
            print(f"scoring actor: {describe(self.predictor)}", flush=True)
        self.dataset = PatchDataset(collection, split, input_mode=self.predictor.reference.input_mode)
        self.against_input = against_input

    def outputs(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """A batch of positions predicted: ids, cover, cloudy input, target, network output and what decloud writes.

        Images are in network units, (N, 13, H, W); ``valid`` (N, H, W) marks pixels the cloudy input measured.
        """
        samples = [self.dataset[int(position)] for position in positions]
        inputs = np.stack([sample["inputs"].numpy() for sample in samples])
        cloudy = np.stack([read_pixels(self.group["s2_cloudy"], (s["index"],), s["patch_id"]) for s in samples])
        if self.against_input:  # does the model leave its input alone? (the do-no-harm question)
            target = optical_dn_to_network(cloudy)
        else:
            target = np.stack([sample["target"].numpy() for sample in samples])
        raw = self.predictor.predict(inputs)
        return {
            "patch_id": np.array([sample["patch_id"] for sample in samples]),
            "cloud_cover": np.array([sample["cloud_cover"] for sample in samples], dtype=np.float64),
            "cloudy": optical_dn_to_network(cloudy), "valid": optical_valid_mask(cloudy), "target": target, "raw": raw,
            "written": optical_dn_to_network(self.written_dn(raw, cloudy)),
        }  # fmt: skip

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.outputs(batch["position"])
        return {
            "position": np.asarray(batch["position"]),
            "patch_id": outputs["patch_id"],
            "cloud_cover": outputs["cloud_cover"],
            **batch_metrics(outputs["written"], outputs["target"]),
            **{
                f"{RAW_PREFIX}{name}": values
                for name, values in batch_metrics(outputs["raw"], outputs["target"]).items()
            },
        }

    def written_dn(self, prediction: np.ndarray, cloudy: np.ndarray) -> np.ndarray:
        """What declouding writes of a batch of predictions (N, 13, H, W): post-processed against the cloudy DN."""
        valid = optical_valid_mask(cloudy)
        prediction_dn = predicted_optical_dn(prediction, valid)
        if not needs_clouds(self.postprocessing):
            return prediction_dn
        clouds = image_clouds(cloudy, self.cloud_resolution_m)
        return combine(prediction_dn, cloudy, valid, self.postprocessing, clouds.probability, clouds.mask)


def batch_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image metrics (on reflectance) of predictions against targets, both in network units (N, 13, H, W)."""
    metrics = image_metrics(
        network_to_reflectance(torch.from_numpy(prediction)), network_to_reflectance(torch.from_numpy(target))
    )
    return {name: metrics[name].double().numpy() for name in METRICS}


def evaluate_split(
    model: str | Path,
    collection: str | Path,
    split: str = "test",
    pool: ActorPool | None = None,
    progress: bool = True,
    precision: str = "fp32",
    against_input: bool = False,
    postprocessing: str = DEFAULT_POSTPROCESSING,
) -> list[dict]:
    """Per-image metrics and cloud cover of every complete patch of ``split``, in the split's order.

    Metrics compare what declouding writes (the prediction after ``postprocessing``; ``raw_*``: the
    network alone) with the cloud-free target, or with the model's own optical input when
    ``against_input`` (on clear inputs: how much the model changes what needs no change).

    The model is resolved once, here. Without a ``pool``, splits of ``AUTO_RAY_MIN_ITEMS`` patches
    or more are scored on a one-actor Ray Data pool (the cluster ``ray.init()`` joins) and smaller
    ones in this process.
    """
    collection = str(collection)
    count = len(PatchDataset(collection, split))
    pool = pool or ActorPool(use_ray=count >= AUTO_RAY_MIN_ITEMS)
    reference = resolve_model(model, precision, pool.device)  # the ONNX variant decloud would run, too
    if has_sar_input(reference.input_mode) and not collection_has_sar(collection):
        raise UserError(
            f"{collection} holds optical-only pairs (no Sentinel-1); {redact(reference.location)} needs "
            f"{reference.input_mode} input: evaluate an optical-only model on it"
        )
    if count == 0:  # a report of nothing would carry NaN means and a summary.json that says "finished"
        raise UserError(f"{collection} has no complete {split} patches to evaluate")
    positions = [{"position": p} for p in range(count)]
    scorer_args = {"model": reference, "collection": collection, "split": split, "device": pool.device,
                   "precision": precision, "against_input": against_input,
                   "postprocessing": postprocessing}  # fmt: skip
    records: dict[int, dict] = {}
    columns = RECORD_COLUMNS
    with tqdm(total=count, desc=f"evaluate {split}", unit="patch", disable=not progress) as bar:
        for batch in map_with_actors(positions, PatchScorer, scorer_args, SCORE_BATCH, pool):
            for position, *values in zip(batch["position"], *(batch[c] for c in columns), strict=True):
                records[int(position)] = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
            bar.update(len(batch["position"]))
    return [records[position] for position in sorted(records)]


def _plain(value):
    """A numpy scalar from a batch as a plain str or float (for CSV and JSON)."""
    return str(value) if isinstance(value, np.str_ | str) else float(value)
