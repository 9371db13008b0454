"""Run an exported EquiCR file on a machine with only numpy, rasterio and onnxruntime installed.

    python run_onnx_standalone.py equicr.onnx s1.tif s2_cloudy.tif declouded.tif

Everything it needs (band order, scaling) comes from the file's own metadata.
"""

import json
import sys

import numpy as np
import onnxruntime as ort
import rasterio


def main(model_path: str, s1_path: str, s2_path: str, out_path: str) -> None:
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    session = ort.InferenceSession(model_path, providers=providers)
    meta = {k[len("equicr.") :]: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    scaling = meta["scaling"]
    with rasterio.open(s1_path) as s1_file, rasterio.open(s2_path) as s2_file:
        s1, s2, profile = s1_file.read().astype(np.float32), s2_file.read().astype(np.float32), s2_file.profile
    optical = np.clip(s2, 0, scaling["optical_dn_max"]) / scaling["optical_network_divisor"]
    low = np.array([scaling["sar_db_range"][b][0] for b in ("VV", "VH")], np.float32)[:, None, None]
    high = np.array([scaling["sar_db_range"][b][1] for b in ("VV", "VH")], np.float32)[:, None, None]
    s1 = np.where(np.isnan(s1) | (s1 == scaling["sar_fill_db"]), low, s1)  # no data -> lowest backscatter
    sar = (np.clip(s1, low, high) - low) / (high - low) * scaling["sar_network_span"]
    layers = {13: [optical], 2: [sar], 15: [optical, sar]}[len(meta["input_bands"])]
    inputs = np.concatenate(layers)[None].astype(np.float32)
    prediction = session.run(None, {meta["input_name"]: inputs})[0][0]
    dn = np.clip(np.rint(prediction * scaling["optical_network_divisor"]), 0, scaling["optical_dn_max"]).astype(
        np.uint16
    )
    with rasterio.open(out_path, "w", **{**profile, "dtype": "uint16", "count": dn.shape[0]}) as out:
        out.write(dn)
    bands = f"{meta['output_bands'][0]}..{meta['output_bands'][-1]}"
    print(f"{out_path}: {dn.shape[0]} bands {bands} on {session.get_providers()[0]}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
