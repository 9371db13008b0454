"""What an exported ONNX file says about itself, stored as ONNX ``metadata_props`` (string key/value pairs).

A deployment machine reads these through ONNX Runtime alone (``session.get_modelmeta()``) to know
the band order, the scaling between sensor and network units, and where the file came from.
"""

from __future__ import annotations

import base64
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from equicr.bands import S1_BANDS, S2_BANDS, input_bands
from equicr.errors import UserError
from equicr.models import ModelConfig
from equicr.scaling import (
    OPTICAL_DN_MAX,
    OPTICAL_MEASURED_MIN_DN,
    OPTICAL_NETWORK_DIVISOR,
    SAR_DB_RANGE,
    SAR_FILL_DB,
    SAR_NETWORK_SPAN,
)

#: Prefix of every metadata key this project writes.
KEY_PREFIX = "equicr."
#: Libraries whose versions are recorded in the file.
RECORDED_LIBRARIES = ("equicr", "torch", "escnn", "onnx", "onnxruntime", "numpy")
INPUT_NAME, OUTPUT_NAME = "inputs", "prediction"
#: The seeded input whose outputs each file records, so verification needs nothing but the file.
REFERENCE_SEED, REFERENCE_SIZE = 20240, (12, 12)  # 7.5 kB of outputs for 13 bands
#: How the weights are stored in the file (computation stays float32 either way).
WEIGHT_DTYPES = ("float32", "float16")
#: Reduced precisions a deployment file can be exported in beside the float32 file (equicr.deploy.reduced).
REDUCED_PRECISIONS = ("int8", "float16")
#: How EquiCR's filters are stored: expanded from the basis in the graph, or expanded in the file.
FILTER_FORMS = ("basis", "expanded")


def scaling_constants() -> dict[str, Any]:
    """The numbers that turn sensor units into network units and back (see :mod:`equicr.scaling`)."""
    return {
        "optical_dn_max": OPTICAL_DN_MAX,
        "optical_measured_min_dn": OPTICAL_MEASURED_MIN_DN,
        "optical_network_divisor": OPTICAL_NETWORK_DIVISOR,
        "sar_db_range": {band: list(SAR_DB_RANGE[band]) for band in S1_BANDS},
        "sar_network_span": SAR_NETWORK_SPAN,
        "sar_fill_db": SAR_FILL_DB,
    }


def postprocessing_constants() -> dict[str, Any]:
    """How declouding combines prediction and cloudy input (:mod:`equicr.postprocessing`), for runtimes without equicr.

    The s2cloudless settings are those of :func:`equicr.data.clouds.cloud_detector` at the scene
    resolution, which :func:`equicr.data.clouds.window_clouds` runs aligned to its coarse grid.
    """
    from equicr.data.clouds import SCENE_CLOUD_RESOLUTION_M, cloud_detector, window_margin
    from equicr.postprocessing import BLEND_HIGH, BLEND_LOW, DEFAULT_POSTPROCESSING

    detector = cloud_detector(SCENE_CLOUD_RESOLUTION_M)
    return {
        "default": DEFAULT_POSTPROCESSING, "blend_ramp": [BLEND_LOW, BLEND_HIGH],
        "cloud_resolution_m": SCENE_CLOUD_RESOLUTION_M, "cloud_threshold": detector.threshold,
        "cloud_average_over": detector.average_over, "cloud_dilation": detector.dilation_size,
        "cloud_window_margin_px": window_margin(SCENE_CLOUD_RESOLUTION_M),
    }  # fmt: skip


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that produced the file."""
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_metadata(
    config: ModelConfig,
    parameter_count: int,
    checkpoint_sha256: str | None,
    weights_dtype: str,
    filters: str,
    reference_output: np.ndarray,
) -> dict[str, str]:
    """The metadata of one exported model, every value a string (JSON where structured)."""
    values = {
        "model_config": config.to_dict(),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "input_bands": list(input_bands(config.input_mode)),
        "output_bands": list(S2_BANDS),
        "scaling": scaling_constants(),
        "postprocessing": postprocessing_constants(),
        "symmetry_group": config.group,
        "rotation_equivariant": config.architecture == "equicr",
        "receptive_field_radius": config.receptive_field_radius,
        "trainable_parameters": parameter_count,
        "checkpoint_sha256": checkpoint_sha256,
        "weights_dtype": weights_dtype,
        "precision": "float32",  # what the graph computes in; reduced files (equicr.deploy.reduced) say theirs
        "filters": filters,  # "expanded" (stored) or "basis" (coefficients expanded in the graph)
        "library_versions": library_versions(),
        "reference_output": encode_reference_output(reference_output),
    }
    return {KEY_PREFIX + key: json.dumps(value) for key, value in values.items()}


def reference_input(config: ModelConfig) -> np.ndarray:
    """The seeded network input whose outputs every exported file records, (1, C, H, W) float32."""
    rng = np.random.default_rng(REFERENCE_SEED)
    return rng.uniform(0, 2, (1, config.in_channels, *REFERENCE_SIZE)).astype(np.float32)


def encode_reference_output(output: np.ndarray) -> dict[str, Any]:
    """Outputs on :func:`reference_input` as JSON-ready metadata: shape and base64 float32 bytes."""
    output = np.ascontiguousarray(output, dtype=np.float32)
    return {"shape": list(output.shape), "float32_base64": base64.b64encode(output.tobytes()).decode()}


def reference_pair(metadata: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The reference input (regenerated from the seed) and the outputs a file recorded at export."""
    recorded = metadata["reference_output"]
    output = np.frombuffer(base64.b64decode(recorded["float32_base64"]), dtype=np.float32).reshape(recorded["shape"])
    return reference_input(ModelConfig.from_dict(metadata["model_config"])), output


def parse_metadata(properties: dict[str, str]) -> dict[str, Any]:
    """This project's metadata from a file's key/value pairs, JSON decoded, without the key prefix."""
    parsed = {
        key[len(KEY_PREFIX) :]: json.loads(value) for key, value in properties.items() if key.startswith(KEY_PREFIX)
    }
    if "model_config" not in parsed:
        raise UserError("the ONNX file carries no EquiCR metadata (was it exported with export/to_onnx.py?)")
    return parsed
