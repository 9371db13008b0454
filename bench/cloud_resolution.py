"""s2cloudless at 10 m against 20, 60 and 160 m: speed-up and mask agreement on real georeferenced patches.

    python bench/cloud_resolution.py [--root ../shared/data] [--rounds 3]

Every georeferenced real Sentinel-2 image of the shared data folder (SEN12MS-CR cloudy and clear
patches, the 30-date Rome series and its other patches) goes through :func:`detect_clouds` at each
resolution. Agreement: the intersection over union of the cloud mask with the 10 m mask, pooled
over all images (and per image, the median over images with clouds at 10 m), plus the cover
difference. Speed: per-image detection, timed round-robin (benchlib) on the patches and on a
2048 px mosaic of them (scene windows are larger than patches). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import SHARED_DATA_DIR, interleaved_medians, print_table, write_results  # noqa: E402

from equicr.data.clouds import CLOUD_RESOLUTIONS_M, detect_clouds  # noqa: E402


def real_images(root: Path) -> list[np.ndarray]:
    """Every georeferenced 13-band Sentinel-2 image of the shared data folder (DN, 13 x 256 x 256)."""
    paths = sorted(root.glob("sen12mscr-mini/*_s2*/*/*.tif")) + sorted(root.glob("real-pairs/*_s2*/*/*.tif"))
    paths += sorted(root.glob("sen12mscr-ts-rome/**/*.tif")) + sorted(root.glob("s1-s2-extra/*_s2*/*/*.tif"))
    images = []
    for path in paths:
        with rasterio.open(path) as dataset:
            if dataset.count == 13 and dataset.crs is not None and dataset.shape == (256, 256):
                images.append(dataset.read())
    return images


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=SHARED_DATA_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    images = real_images(args.root)
    print(f"{len(images)} real georeferenced images")
    masks = {r: [detect_clouds(image, r).mask[0] for image in images] for r in CLOUD_RESOLUTIONS_M}
    mosaic = np.block([[images[(i * 8 + j) % len(images)] for j in range(8)] for i in range(8)])  # 2048 px
    patch_times = interleaved_medians(
        {r: (lambda r=r: [detect_clouds(image, r) for image in images[:12]]) for r in CLOUD_RESOLUTIONS_M},
        rounds=args.rounds,
    )
    mosaic_times = interleaved_medians(
        {r: (lambda r=r: detect_clouds(mosaic, r)) for r in CLOUD_RESOLUTIONS_M}, rounds=args.rounds
    )
    rows = []
    reference = masks[10]
    cloudy = [i for i, mask in enumerate(reference) if mask.mean() > 0.01]
    for r in CLOUD_RESOLUTIONS_M:
        cover_difference = [abs(m.mean() - ref.mean()) for m, ref in zip(masks[r], reference, strict=True)]
        rows.append({
            "resolution_m": r,
            "pooled_iou": iou(np.stack(masks[r]), np.stack(reference)),
            "median_iou_cloudy": statistics.median(iou(masks[r][i], reference[i]) for i in cloudy),
            "mean_abs_cover_diff": float(np.mean(cover_difference)),
            "s_per_patch": patch_times[r] / 12,
            "speedup_patches": patch_times[10] / patch_times[r],
            "s_2048px": mosaic_times[r],
            "speedup_2048px": mosaic_times[10] / mosaic_times[r],
        })  # fmt: skip
    print_table(rows, list(rows[0]))
    write_results("cloud_resolution", {"images": len(images), "cloudy_images": len(cloudy), "rows": rows})


if __name__ == "__main__":
    main()
