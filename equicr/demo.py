"""A short end-to-end pass a new user learns from: real patch in, metrics and equivariance out.

It reads a real SEN12MS-CR triplet (from a tree the user names; without one, a real Sentinel-1 and
clear Sentinel-2 patch shipped in the package under seeded synthetic clouds), scales it to network
units, runs a small untrained EquiCR and a DSen2-CR of similar size on it, and prints the paper's
metrics next to the "leave the clouds in" baseline, and the rotation-equivariance error of each
network (EquiCR's is float32 round-off, DSen2-CR's is large); then the small model shipped in the
package, trained on real ground.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from equicr.data.rasters import Raster, read_raster
from equicr.data.sen12mscr import index_tree
from equicr.deploy.predictors import load_predictor
from equicr.equivariance import EQUIVARIANCE_TOLERANCE, max_rotation_error
from equicr.metrics import image_metrics, mean_metrics
from equicr.models import ModelConfig, build_model, count_parameters, equal_parameter_config
from equicr.paths import SHIPPED_MODEL
from equicr.scaling import (
    network_inputs,
    network_to_reflectance,
    optical_dn_to_reflectance,
    sar_nodata_mask,
)


def format_metrics(name: str, values: dict[str, float]) -> str:
    """One aligned line of the four metrics."""
    return (
        f"  {name:<34} PSNR {values['psnr']:6.2f} dB  MAE {values['mae']:.4f}  "
        f"SSIM {values['ssim']:.4f}  SAM {values['sam']:6.2f} deg"
    )


def demo_triplet(data_dir: Path | None) -> tuple[str, Raster, Raster, Raster]:
    """(description, S1, cloudy S2, clear S2): the first triplet of a SEN12MS-CR tree, or the shipped real patch.

    The shipped patch is real clear ground with its real Sentinel-1; its clouds are seeded synthetic
    ones (:func:`equicr.data.synthetic.add_clouds`), so the demo runs from the package alone.
    """
    if data_dir is not None:
        records, _ = index_tree(data_dir)
        if not records:
            raise FileNotFoundError(f"no complete s1/s2_cloudy/s2 triplet under {data_dir}")
        paths = records[0].paths
        s1, cloudy, clear = (read_raster(paths[kind], kind) for kind in ("s1", "s2_cloudy", "s2"))
        return f"patch {paths['s1'].name.replace('_s1_', '_*_')}", s1, cloudy, clear
    from equicr.data.real import shipped_backgrounds
    from equicr.data.synthetic import add_clouds
    from equicr.scaling import OPTICAL_DN_MAX

    patch = next(p for p in shipped_backgrounds() if p.s1 is not None)
    s1, clear = read_raster(patch.s1, "s1"), read_raster(patch.s2, "s2")
    reflectance = clear.data.astype(np.float64) / OPTICAL_DN_MAX
    cloudy_dn = np.clip(
        np.rint(add_clouds(np.random.default_rng(0), reflectance, 0.5) * OPTICAL_DN_MAX), 1, OPTICAL_DN_MAX
    )
    cloudy = Raster(clear.path, cloudy_dn.astype(np.uint16), clear.geo)
    return f"shipped patch {patch.name} (real ground, synthetic clouds)", s1, cloudy, clear


def run_demo(data_dir: Path | None = None, width: int = 4, num_blocks: int = 2, seed: int = 0) -> dict:
    """Run the pass and print what it finds; returns the numbers for tests."""
    torch.manual_seed(seed)
    description, s1, cloudy, clear = demo_triplet(data_dir)
    print(f"{description}  CRS {s1.geo.crs}  {s1.data.shape[1]}x{s1.data.shape[2]} px")
    print(f"  SAR no-data pixels (0 dB or NaN): {int(sar_nodata_mask(s1.data).sum())}")

    inputs = torch.from_numpy(network_inputs(s1.data, cloudy.data, "sar+opt"))[None]
    target = torch.from_numpy(optical_dn_to_reflectance(clear.data))[None]
    baseline = torch.from_numpy(optical_dn_to_reflectance(cloudy.data))[None]
    results = {"baseline": mean_metrics(image_metrics(baseline, target))}

    equicr_config = ModelConfig("equicr", width=width, num_blocks=num_blocks)
    configs = {"EquiCR": equicr_config, "DSen2-CR": equal_parameter_config(equicr_config, "dsen2cr")}
    print("\nmetrics against the cloud-free image (reflectance in [0, 1]):")
    print(format_metrics("cloudy input (no model)", results["baseline"]))
    for name, config in configs.items():
        started = time.perf_counter()
        model = build_model(config, identity_start=False).eval()
        with torch.no_grad():
            prediction = model(inputs)
        elapsed = time.perf_counter() - started
        reflectance = network_to_reflectance(prediction)
        metrics = mean_metrics(image_metrics(reflectance, target))
        metrics["equivariance_error"] = max_rotation_error(model, inputs[..., :64, :63])
        metrics["parameters"] = count_parameters(model)
        results[name] = metrics
        label = f"{name} untrained, {metrics['parameters']:,} params"
        print(format_metrics(label, metrics) + f"  ({elapsed:.1f} s)")

    print(f"\nrotation equivariance, max over 90/180/270 degrees (tolerance {EQUIVARIANCE_TOLERANCE:g}):")
    for name in configs:
        error = results[name]["equivariance_error"]
        verdict = "equivariant" if error < EQUIVARIANCE_TOLERANCE else "NOT equivariant"
        print(f"  {name:<10} relative error {error:.2e}  -> {verdict}")
    print(
        "\nEvery layer is random here (so the equivariance check means something), so these untrained\n"
        "networks score at or below the baseline; training (make demo, jobs/train.py) removes the clouds."
    )
    if SHIPPED_MODEL.is_file():
        predictor = load_predictor(SHIPPED_MODEL)
        mode = predictor.reference.input_mode
        prediction = predictor.predict(network_inputs(s1.data, cloudy.data, mode)[None])
        results["shipped"] = mean_metrics(image_metrics(network_to_reflectance(torch.from_numpy(prediction)), target))
        print(f"\nthe shipped model, trained on real ground ({SHIPPED_MODEL.name}, {mode} input; see MODEL_CARD.md):")
        print(format_metrics("shipped model", results["shipped"]))
    return results
