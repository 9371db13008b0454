"""Do no harm, measured: the network alone, keeping clear pixels, and a soft blend by cloud probability.

    python bench/postprocessing.py [--model equicr/assets/models/real-best.pt] [--composites 120]

1. On training ground, never the test bench, it chooses the blend's ramp (the cloud probabilities
   where the network's weight starts rising and reaches 1): the ramp of highest mean PSNR over two
   sets weighted alike, fresh SatelliteCloudGenerator composites over the real clear backgrounds
   (against their clear target) and those clear backgrounds themselves with the Virginia product's
   training area (against themselves: do no harm). Composites alone would choose a ramp that
   trusts the network on clear ground, since s2cloudless barely sees their thin simulated haze.
2. On the real test bench (25 real-cloud pairs, 12 triplets), the 19 do-no-harm pairs (the "cloudy"
   date is clear) and the unseen Virginia land (clear: target = input) it scores the three
   post-processings of :mod:`equicr.postprocessing` beside leaving the clouds in.

Cloud probability is s2cloudless's at 60 m, as declouding computes it. Prints a table per set and
writes bench/results/postprocessing.json; docs/evaluation.md quotes it and DEFAULT_POSTPROCESSING
follows it.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchlib import print_table, real_bench_parser, write_results

from equicr.bands import optical_channels
from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, image_clouds
from equicr.data.collection import open_collection
from equicr.data.dataset import PatchDataset
from equicr.data.real import load_real_data
from equicr.data.virginia import virginia_patches
from equicr.deploy.predictors import load_predictor
from equicr.evaluation.aggregate import METRICS
from equicr.evaluation.scoring import batch_metrics
from equicr.ingest.geotiffs import write_test_bench
from equicr.ingest.simulated import write_composites
from equicr.metrics import psnr
from equicr.postprocessing import BLEND, KEEP_CLEAR, RAW, combine
from equicr.scaling import optical_dn_to_network, optical_dn_to_reflectance, optical_valid_mask, predicted_optical_dn

LOWS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
WIDTHS = (0.05, 0.1, 0.2, 0.3, 0.4)


def collection_cases(predictor, collection: str, split: str) -> list[dict]:
    """Per patch: the prediction, the cloudy input and the target (DN), the valid mask and s2cloudless's output."""
    dataset = PatchDataset(collection, split, input_mode=predictor.reference.input_mode)
    group = open_collection(collection, "patches")
    cases = []
    for position in range(len(dataset)):
        sample = dataset[position]
        index = sample["index"]
        cloudy, target = group["s2_cloudy"][index], group["s2"][index]
        cases.append(case(predictor, sample["inputs"].numpy(), cloudy, target, sample["patch_id"]))
    return cases


def case(predictor, inputs: np.ndarray, cloudy: np.ndarray, target: np.ndarray, name: str) -> dict:
    valid = optical_valid_mask(cloudy)
    prediction = predicted_optical_dn(predictor.predict(inputs[None])[0], valid)
    clouds = image_clouds(cloudy, SCENE_CLOUD_RESOLUTION_M)
    return {"name": name, "prediction": prediction, "cloudy": cloudy, "target": target, "valid": valid,
            "probability": clouds.probability[0], "mask": clouds.mask[0], "cover": float(clouds.cover[0])}  # fmt: skip


def scores(cases: list[dict], how: str, ramp=None, against_input: bool = False) -> dict[str, float]:
    """Mean metrics of one post-processing ("cloudy" leaves the clouds in) over ``cases``."""
    outputs, targets = [], []
    for c in cases:
        if how == "cloudy":
            output = c["cloudy"]
        else:
            extra = {"ramp": ramp} if ramp else {}
            output = combine(c["prediction"], c["cloudy"], c["valid"], how, c["probability"], c["mask"], **extra)
        outputs.append(output)
        targets.append(c["cloudy"] if against_input else c["target"])
    metrics = batch_metrics(optical_dn_to_network(np.stack(outputs)), optical_dn_to_network(np.stack(targets)))
    return {name: float(np.mean(metrics[name])) for name in METRICS}


def mean_psnr(cases: list[dict], ramp: tuple[float, float]) -> float:
    """Mean PSNR (as equicr.metrics computes it, on reflectance) of the blend with ``ramp``: the grid's fast score."""
    values = []
    for c in cases:
        output = combine(c["prediction"], c["cloudy"], c["valid"], BLEND, c["probability"], c["mask"], ramp=ramp)
        pair = (torch.from_numpy(optical_dn_to_reflectance(image[None])) for image in (output, c["target"]))
        values.append(float(psnr(*pair)[0]))
    return float(np.mean(values))


def choose_ramp(composites: list[dict], clear: list[dict]) -> tuple[tuple[float, float], list[dict]]:
    """The blend ramp of highest PSNR on training ground (mean of the two sets' means), and every ramp's scores."""
    rows = []
    for low, width in itertools.product(LOWS, WIDTHS):
        ramp = (low, round(low + width, 2))
        if ramp[1] > 1:
            continue
        on_composites, on_clear = mean_psnr(composites, ramp), mean_psnr(clear, ramp)
        rows.append({"low": ramp[0], "high": ramp[1], "psnr": (on_composites + on_clear) / 2,
                     "psnr composites": on_composites, "psnr clear": on_clear})  # fmt: skip
    best = max(rows, key=lambda row: row["psnr"])
    return (best["low"], best["high"]), rows


def main() -> None:
    parser = real_bench_parser(__doc__)
    parser.add_argument("--composites", type=int, default=120, help="training composites to choose the ramp on")
    args = parser.parse_args()
    predictor = load_predictor(args.model, "cpu", "fp32")
    mode = predictor.reference.input_mode
    if optical_channels(mode) == slice(0, 0):
        raise SystemExit(f"{args.model} reads no optical image: nothing to keep or blend")
    real = load_real_data(args.root)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        write_composites(real.backgrounds, work / "composites.zarr", args.composites, 128, seed=11, progress=False)
        training = collection_cases(predictor, str(work / "composites.zarr"), "train")
        training += collection_cases(predictor, str(work / "composites.zarr"), "val")
        clear = [clear_case(predictor, background.s2, background.name) for background in real.backgrounds]
        bench = write_test_bench(real, work / "bench")
        sets = {name: collection_cases(predictor, location, "test") for name, location in bench.items()}
    virginia = {area: [case(predictor, optical_inputs(patch.dn, mode), patch.dn, patch.dn, patch.name)
                       for patch in virginia_patches(args.root, area)] for area in ("training", "unseen")}  # fmt: skip
    clear += virginia["training"]
    sets["virginia-unseen"] = virginia["unseen"]
    ramp, ramp_rows = choose_ramp(training, clear)
    print(f"blend ramp chosen on training ground ({len(training)} composites, {len(clear)} clear patches): "
          f"cloud probability {ramp[0]} to {ramp[1]}")  # fmt: skip
    print_table(sorted(ramp_rows, key=lambda r: -r["psnr"])[:8], list(ramp_rows[0]))
    results = {"ramp": {"low": ramp[0], "high": ramp[1], "composites": len(training), "clear_patches": len(clear),
                        "grid": ramp_rows},
               "cloud_resolution_m": SCENE_CLOUD_RESOLUTION_M, "model": args.model, "sets": {}}  # fmt: skip
    ways = {"cloudy input": ("cloudy", None), RAW: (RAW, None), KEEP_CLEAR: (KEEP_CLEAR, None), BLEND: (BLEND, ramp)}
    for name, cases in [("training composites", training), ("training clear", clear), *sets.items()]:
        rows = []
        for label, (how, chosen) in ways.items():
            rows.append({"post-processing": label, **scores(cases, how, chosen)})
            if name in ("training clear", "do-no-harm", "virginia-unseen") and how != "cloudy":
                rows[-1] |= {f"{k} vs input": v for k, v in scores(cases, how, chosen, against_input=True).items()
                             if k in ("psnr", "sam")}  # fmt: skip
        cover = float(np.mean([c["cover"] for c in cases]))
        print(f"\n{name}: {len(cases)} images, mean s2cloudless cover {cover:.2f}")
        print_table(rows, list(rows[-1]))
        results["sets"][name] = {"images": len(cases), "mean_cloud_cover": cover, "rows": rows}
    write_results("postprocessing", results, args.out)


def clear_case(predictor, path: Path, name: str) -> dict:
    """A clear real background as its own target: the network should leave it as it is."""
    import rasterio

    with rasterio.open(path) as source:
        dn = source.read()
    return case(predictor, optical_inputs(dn, predictor.reference.input_mode), dn, dn, name)


def optical_inputs(dn: np.ndarray, mode: str) -> np.ndarray:
    """The network input of an optical-only model for a clear patch (the Virginia land has no Sentinel-1)."""
    from equicr.scaling import network_inputs

    return network_inputs(None, dn, mode)


if __name__ == "__main__":
    main()
