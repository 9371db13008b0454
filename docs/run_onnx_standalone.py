"""Run an exported EquiCR file on a machine with only numpy, rasterio, onnxruntime and s2cloudless installed.

    pip install numpy rasterio onnxruntime s2cloudless   # or onnxruntime-gpu on a CUDA machine
    python run_onnx_standalone.py equicr.onnx s2_cloudy.tif declouded.tif --s1 s1.tif [--tile-size 1024]
    python run_onnx_standalone.py optical.onnx s2_cloudy.tif declouded.tif   # a model that reads no SAR

Everything it needs (band order, scaling, receptive-field radius, whether it reads Sentinel-1)
comes from the file's own metadata: --s1 is required by a model that reads SAR and refused by one
that does not. The output is a Cloud-Optimized GeoTIFF (GDAL's COG driver, with overviews) on the
cloudy image's grid, written beside as a temporary file and renamed into place only when complete.
Large images are inferred tile by tile, each read with a halo of the receptive-field radius and
cropped back (equal to whole-image inference, as in jobs/decloud.py), so memory stays
bounded; pixels where an input holds no measurement (optical DN 0 in any band, SAR NaN or the
fill value) are written as nodata 0, and declouded pixels are at least DN 1 (0 means no data).

The prediction meets the cloudy input as jobs/decloud.py's --postprocessing does (the file records
how: blend by s2cloudless's cloud probability by default, keep-clear, or raw): s2cloudless runs on a
window aligned to its coarse grid with a margin, so the output does not depend on --tile-size.
"""

import argparse
import json
import os
import tempfile

import cv2  # s2cloudless's own dependency
import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.shutil import copy as copy_dataset
from rasterio.windows import Window


def network_inputs(meta: dict, s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network input of one window and its valid-pixel mask, by the file's scaling constants."""
    scaling = meta["scaling"]
    optical = np.clip(s2, 0, scaling["optical_dn_max"]) / scaling["optical_network_divisor"]
    low = np.array([scaling["sar_db_range"][b][0] for b in ("VV", "VH")], np.float32)[:, None, None]
    high = np.array([scaling["sar_db_range"][b][1] for b in ("VV", "VH")], np.float32)[:, None, None]
    missing = ~np.isfinite(s1) | (s1 == scaling["sar_fill_db"])
    s1 = np.where(missing, low, s1)  # no data -> lowest backscatter
    sar = (np.clip(s1, low, high) - low) / (high - low) * scaling["sar_network_span"]
    uses_optical, uses_sar = "B02" in meta["input_bands"], "VV" in meta["input_bands"]
    valid = np.ones(s2.shape[1:], dtype=bool)
    if uses_optical:
        valid &= np.all(s2 != 0, axis=0)
    if uses_sar:
        valid &= ~np.any(missing, axis=0)
    layers = [optical] * uses_optical + [sar] * uses_sar
    return np.concatenate(layers)[None].astype(np.float32), valid


def cloud_probability(s2_file, rows: tuple[int, int], cols: tuple[int, int], post: dict):
    """s2cloudless's probability and mask of a window, computed as jobs/decloud.py does (aligned, margined, cropped)."""
    from s2cloudless import S2PixelCloudDetector

    factor, margin = post["cloud_resolution_m"] // 10, post["cloud_window_margin_px"]
    height, width = s2_file.shape
    top, left = max(0, rows[0] - margin) // factor * factor, max(0, cols[0] - margin) // factor * factor
    bottom, right = min(height, rows[1] + margin), min(width, cols[1] + margin)
    dn = s2_file.read(window=Window(left, top, right - left, bottom - top))
    dn = np.pad(dn, ((0, 0), (0, -(bottom - top) % factor), (0, -(right - left) % factor)), mode="edge")
    size = (dn.shape[2] // factor, dn.shape[1] // factor)  # OpenCV's (width, height)
    coarse = np.stack([cv2.resize(band, size, interpolation=cv2.INTER_AREA) for band in dn]) if factor > 1 else dn
    reflectance = np.moveaxis(np.clip(coarse.astype(np.float32), 0, 10000) / 10000, 0, -1)[None]
    detector = S2PixelCloudDetector(
        threshold=post["cloud_threshold"],
        all_bands=True,
        average_over=post["cloud_average_over"],
        dilation_size=post["cloud_dilation"],
    )
    probability = detector.get_cloud_probability_maps(reflectance).astype(np.float32)
    mask = detector.get_mask_from_prob(probability).astype(np.uint8)[0]
    probability = probability[0]
    if factor > 1:
        probability = cv2.resize(probability, (dn.shape[2], dn.shape[1]), interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, (dn.shape[2], dn.shape[1]), interpolation=cv2.INTER_NEAREST)
    crop = slice(rows[0] - top, rows[1] - top), slice(cols[0] - left, cols[1] - left)
    return probability[crop], mask[crop].astype(bool)


def postprocess(dn, cloudy, valid, how: str, probability, mask, post: dict):
    """The output DN: prediction and cloudy input weighted by cloudiness, as equicr.postprocessing.combine does."""
    if how == "raw":
        return dn
    if how == "keep-clear":
        weight = mask.astype(np.float32)
    else:
        low, high = post["blend_ramp"]
        weight = np.clip((probability - low) / (high - low), 0.0, 1.0).astype(np.float32)
    mixed = np.rint(weight[None] * dn.astype(np.float32) + (1 - weight[None]) * cloudy.astype(np.float32))
    return np.where(valid[None], mixed, 0).astype(np.uint16)


def declouded_tiles(session, meta: dict, s1_file, s2_file, tile: int, how: str):
    """Yield (window, DN) of every output tile: each read with a halo of the receptive-field radius, cropped back."""
    halo, divisor = meta["receptive_field_radius"], meta["scaling"]["optical_network_divisor"]
    height, width = s2_file.shape
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            rows = (max(top - halo, 0), min(top + tile + halo, height))
            cols = (max(left - halo, 0), min(left + tile + halo, width))
            window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
            s2 = s2_file.read(window=window).astype(np.float32)
            if s1_file is None:  # an optical-only model: no SAR band enters the network
                s1 = np.zeros((2, *s2.shape[1:]), np.float32)
            else:
                s1 = s1_file.read(window=window).astype(np.float32)
            inputs, valid = network_inputs(meta, s1, s2)
            prediction = session.run(None, {meta["input_name"]: inputs})[0][0]
            lowest = meta["scaling"].get("optical_measured_min_dn", 1)
            dn = np.clip(np.rint(prediction * divisor), lowest, meta["scaling"]["optical_dn_max"])
            dn = np.where(valid, dn, 0).astype(np.uint16)
            core_rows = slice(top - rows[0], min(top + tile, height) - rows[0])
            core_cols = slice(left - cols[0], min(left + tile, width) - cols[0])
            core = Window(left, top, core_cols.stop - core_cols.start, core_rows.stop - core_rows.start)
            dn, valid = dn[:, core_rows, core_cols], valid[core_rows, core_cols]
            if how != "raw":
                span = (top, top + core.height), (left, left + core.width)
                probability, mask = cloud_probability(s2_file, *span, meta["postprocessing"])
                cloudy = s2_file.read(window=core)
                dn = postprocess(dn, cloudy, valid, how, probability, mask, meta["postprocessing"])
            yield core, dn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an exported EquiCR or DSen2-CR .onnx file")
    parser.add_argument("s2_cloudy", help="the cloudy 13-band Sentinel-2 L1C GeoTIFF (DN)")
    parser.add_argument("out", help="the declouded COG to write (13 bands, uint16 DN, nodata 0)")
    parser.add_argument("--s1", help="the co-registered Sentinel-1 GeoTIFF (VV, VH in dB), for a model that reads SAR")
    parser.add_argument("--tile-size", type=int, default=1024, help="output tile side in pixels (default: 1024)")
    parser.add_argument(
        "--postprocessing",
        choices=("blend", "keep-clear", "raw"),
        help="how prediction and cloudy input meet (default: what the file records)",
    )
    args = parser.parse_args()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    session = ort.InferenceSession(args.model, providers=providers)
    meta = {k[len("equicr.") :]: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    if "postprocessing" not in meta:
        raise SystemExit(f"error: {args.model} records no post-processing: export it again with this version")
    how = args.postprocessing or meta["postprocessing"]["default"]
    reads_sar = "VV" in meta["input_bands"]
    if reads_sar and args.s1 is None:
        raise SystemExit(f"error: {args.model} reads Sentinel-1 ({', '.join(meta['input_bands'])}): pass --s1 S1.tif")
    if not reads_sar and args.s1 is not None:
        raise SystemExit(f"error: {args.model} reads no Sentinel-1 (optical only): leave out --s1")
    folder = os.path.dirname(os.path.abspath(args.out))
    with rasterio.open(args.s2_cloudy) as s2_file, tempfile.TemporaryDirectory(dir=folder, prefix=".partial-") as work:
        s1_file = rasterio.open(args.s1) if reads_sar else None
        try:
            if s1_file is not None and s1_file.shape != s2_file.shape:
                raise SystemExit(f"error: {args.s1} is {s1_file.shape} px but {args.s2_cloudy} is {s2_file.shape} px")
            profile = {**s2_file.profile, "driver": "GTiff", "dtype": "uint16", "count": len(meta["output_bands"]),
                       "nodata": 0, "tiled": True, "blockxsize": 512, "blockysize": 512}  # fmt: skip
            plain = os.path.join(work, "plain.tif")
            with rasterio.open(plain, "w", **profile) as out:
                for window, dn in declouded_tiles(session, meta, s1_file, s2_file, args.tile_size, how):
                    out.write(dn, window=window)
                out.descriptions = meta["output_bands"]
        finally:
            if s1_file is not None:
                s1_file.close()
        partial = os.path.join(work, "out.tif")
        copy_dataset(plain, partial, driver="COG", compress="DEFLATE", overview_resampling="average")
        os.replace(partial, args.out)  # only a complete COG ever lies at the output path
    bands = f"{meta['output_bands'][0]}..{meta['output_bands'][-1]}"
    print(
        f"{args.out}: COG, {len(meta['output_bands'])} bands {bands}, post-processing {how}, "
        f"on {session.get_providers()[0]}"
    )


if __name__ == "__main__":
    main()
