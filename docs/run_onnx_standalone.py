"""Run an exported EquiCR file on a machine with only numpy, rasterio and onnxruntime installed.

    pip install numpy rasterio onnxruntime        # or onnxruntime-gpu on a CUDA machine
    python run_onnx_standalone.py equicr.onnx s1.tif s2_cloudy.tif declouded.tif [--tile-size 1024]

Everything it needs (band order, scaling, receptive-field radius) comes from the file's own
metadata. Large images are inferred tile by tile, each read with a halo of the receptive-field
radius and cropped back (equal to whole-image inference, as in jobs/decloud.py), so memory stays
bounded; pixels where an input holds no measurement (optical DN 0 in any band, SAR NaN or the
fill value) are written as nodata 0, and declouded pixels are at least DN 1 (0 means no data).
"""

import argparse
import json

import numpy as np
import onnxruntime as ort
import rasterio
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("model", "s1", "s2_cloudy", "out"):
        parser.add_argument(name)
    parser.add_argument("--tile-size", type=int, default=1024, help="output tile side in pixels")
    args = parser.parse_args()
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    session = ort.InferenceSession(args.model, providers=providers)
    meta = {k[len("equicr.") :]: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    halo, tile, divisor = meta["receptive_field_radius"], args.tile_size, meta["scaling"]["optical_network_divisor"]
    with rasterio.open(args.s1) as s1_file, rasterio.open(args.s2_cloudy) as s2_file:
        if s1_file.shape != s2_file.shape:
            raise SystemExit(f"error: {args.s1} is {s1_file.shape} px but {args.s2_cloudy} is {s2_file.shape} px")
        height, width = s2_file.shape
        profile = {**s2_file.profile, "dtype": "uint16", "count": len(meta["output_bands"]), "nodata": 0}
        with rasterio.open(args.out, "w", **profile) as out:
            for top in range(0, height, tile):
                for left in range(0, width, tile):
                    rows = (max(top - halo, 0), min(top + tile + halo, height))
                    cols = (max(left - halo, 0), min(left + tile + halo, width))
                    window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
                    s1 = s1_file.read(window=window).astype(np.float32)
                    s2 = s2_file.read(window=window).astype(np.float32)
                    inputs, valid = network_inputs(meta, s1, s2)
                    prediction = session.run(None, {meta["input_name"]: inputs})[0][0]
                    lowest = meta["scaling"].get("optical_measured_min_dn", 1)
                    dn = np.clip(np.rint(prediction * divisor), lowest, meta["scaling"]["optical_dn_max"])
                    dn = np.where(valid, dn, 0).astype(np.uint16)
                    core_rows = slice(top - rows[0], min(top + tile, height) - rows[0])
                    core_cols = slice(left - cols[0], min(left + tile, width) - cols[0])
                    core = Window(left, top, core_cols.stop - core_cols.start, core_rows.stop - core_rows.start)
                    out.write(dn[:, core_rows, core_cols], window=core)
            out.descriptions = meta["output_bands"]
    bands = f"{meta['output_bands'][0]}..{meta['output_bands'][-1]}"
    print(f"{args.out}: {len(meta['output_bands'])} bands {bands} on {session.get_providers()[0]}")


if __name__ == "__main__":
    main()
