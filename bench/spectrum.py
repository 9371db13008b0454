"""Where the colour goes wrong: per-band bias and error of a model on the real test bench and on clear land.

    python bench/spectrum.py [--model equicr/assets/models/real-best.pt]

For every band: the mean signed error relative to the target's mean (bias: negative is too dark)
and the mean absolute error, of the network alone and of leaving the clouds in, on the real-cloud
pairs and triplets (against the clear date) and on clear real land the model never saw (the
Virginia product's unseen area, against itself). Also the spectral angle (SAM) split by where
s2cloudless sees cloud and where it sees clear ground, which says whether the angle is lost under
the clouds or on the ground around them. Prints the tables, writes bench/results/spectrum.json.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from benchlib import print_table, real_bench_parser, write_results
from postprocessing import case, collection_cases, optical_inputs

from equicr.bands import S2_BANDS
from equicr.data.real import load_real_data
from equicr.data.virginia import virginia_patches
from equicr.deploy.predictors import load_predictor
from equicr.ingest.geotiffs import write_test_bench
from equicr.scaling import optical_dn_to_reflectance


def band_rows(cases: list[dict], key: str) -> list[dict]:
    """Per band: relative bias and relative MAE of ``key`` ("prediction" or "cloudy") against the target."""
    output = np.stack([c[key] for c in cases]).astype(np.float64)
    target = np.stack([c["target"] for c in cases]).astype(np.float64)
    rows = []
    for index, band in enumerate(S2_BANDS):
        scale = target[:, index].mean()
        difference = output[:, index] - target[:, index]
        rows.append({"band": band, "bias": difference.mean() / scale, "mae": np.abs(difference).mean() / scale})
    return rows


def sam_by_cloudiness(cases: list[dict], key: str) -> dict[str, float]:
    """Mean per-pixel spectral angle (degrees) where s2cloudless sees cloud and where it sees clear ground."""
    angles = {"cloud": [], "clear": []}
    for c in cases:
        output = torch.from_numpy(optical_dn_to_reflectance(c[key]))[None]
        target = torch.from_numpy(optical_dn_to_reflectance(c["target"]))[None]
        dot = (output * target).sum(1)
        norms = output.norm(dim=1) * target.norm(dim=1)
        angle = torch.rad2deg(torch.acos(torch.clamp(dot / norms.clamp_min(1e-12), -1, 1)))[0].numpy()
        angles["cloud"].append(angle[c["mask"]])
        angles["clear"].append(angle[~c["mask"]])
    return {where: float(np.concatenate(values).mean()) if sum(v.size for v in values) else float("nan")
            for where, values in angles.items()}  # fmt: skip


def main() -> None:
    parser = real_bench_parser(__doc__)
    args = parser.parse_args()
    predictor = load_predictor(args.model, "cpu", "fp32")
    real = load_real_data(args.root)
    with tempfile.TemporaryDirectory() as work:
        bench = write_test_bench(real, Path(work) / "bench")
        clouded = collection_cases(predictor, bench["real-clouds"], "test")
        clouded += collection_cases(predictor, bench["triplets"], "test")
    mode = predictor.reference.input_mode
    unseen = virginia_patches(args.root, "unseen")
    land = [case(predictor, optical_inputs(p.dn, mode), p.dn, p.dn, p.name) for p in unseen]
    results = {"model": args.model, "sets": {}}
    for name, cases, keys in (("real clouds (pairs and triplets)", clouded, ("prediction", "cloudy")),
                              ("unseen clear land (Virginia)", land, ("prediction",))):  # fmt: skip
        table = {}
        for key in keys:
            for row in band_rows(cases, key):
                table.setdefault(row["band"], {"band": row["band"]})
                table[row["band"]] |= {f"{key} bias": row["bias"], f"{key} mae": row["mae"]}
        rows = list(table.values())
        angles = {key: sam_by_cloudiness(cases, key) for key in keys}
        print(f"\n{name}: {len(cases)} images (bias and MAE relative to the target band's mean)")
        print_table(rows, list(rows[0]))
        for key, values in angles.items():
            print(f"SAM of the {key}: {values['cloud']:.2f} deg under cloud, {values['clear']:.2f} deg on clear ground")
        results["sets"][name] = {"images": len(cases), "bands": rows, "sam_by_cloudiness": angles}
    write_results("spectrum", results, args.out)


if __name__ == "__main__":
    main()
