"""Reduced-precision deployment files made from a verified float32 export: static INT8 and float16.

- ``int8``: static quantization in QDQ form with ONNX Runtime's own tools
  (``onnxruntime.quantization.quantize_static``): weights per output channel as signed 8 bit,
  activations as unsigned 8 bit with ranges calibrated on real patches. The compact EquiCR graph
  expands its filters from basis coefficients at load; quantization needs the filters themselves,
  so the graph is first folded by ONNX Runtime's basic optimisations (the expansion becomes plain
  ``Conv`` weights) and then quantized. ONNX Runtime runs QDQ convolutions as integer kernels,
  fast where the CPU has VNNI or AMX-INT8 (and through TensorRT on GPUs).
- ``float16``: every weight and activation in half precision, inputs and outputs kept float32
  (``onnxruntime.transformers.float16``): for CUDA and TensorRT; ONNX Runtime's CPU provider has
  no half-precision convolution on x86, so there it is not a fast path.

Each file keeps the float32 file's metadata with ``precision`` set and its own reference outputs
recorded (so the file alone still notices a changed weight), and is verified against the float32
model by :func:`equicr.deploy.verify.verify_reduced` before it is published beside it as
``<name>.<precision>.onnx``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from equicr.deploy.metadata import (
    KEY_PREFIX,
    REDUCED_PRECISIONS,
    encode_reference_output,
    parse_metadata,
    reference_input,
)
from equicr.errors import UserError
from equicr.models import ModelConfig
from equicr.storage import atomic_output

#: Only the convolutions compute in 8 bit. The long skip (cloudy input plus the predicted change)
#: and the residual sums stay float32: the output is the input plus a small correction, and 8-bit
#: steps on the input's range (5 / 255 network units, 40 DN) would swamp it (measured: 2.8 dB lost
#: on clear real patches with every Add quantized). The first convolution (sensor values in) and
#: the last (the correction out) stay float32 too, as is usual: they are a small share of the work,
#: and 8-bit steps of the correction showed directly in the output.
QUANTIZED_OPS = ["Conv"]
#: Patches fed through the float32 graph to calibrate the INT8 activation ranges, and the percentile
#: of each activation's values its range ends at. Measured on the shipped model (clear shipped
#: patches; real cloudy SEN12MS-CR patches), PSNR and SAM change against float32: min-max ranges
#: -2.2 dB / +0.52 degrees on clear ground; the 99.999th percentile +0.49 dB / -0.05 and -0.01 dB /
#: +0.21 degrees on clouds; the 99.99th +0.20 dB / -0.07 and -0.03 dB / +0.06 degrees.
CALIBRATION_PATCHES = 8
CALIBRATION_PERCENTILE = 99.99


def reduced_location(onnx_location: str, precision: str) -> str:
    """Where the ``precision`` variant of an ONNX file lies: ``model.onnx`` -> ``model.int8.onnx``."""
    stem = onnx_location[: -len(".onnx")] if onnx_location.endswith(".onnx") else onnx_location
    return f"{stem}.{precision}.onnx"


def folded_graph(path: Path) -> onnx.ModelProto:
    """The graph as ONNX Runtime's basic optimisations leave it: constant subgraphs (the basis expansion) folded."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with tempfile.TemporaryDirectory() as folder:
        options.optimized_model_filepath = str(Path(folder) / "folded.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


class _Calibration:
    """Feeds calibration inputs to ``quantize_static`` one patch at a time (ONNX Runtime's reader protocol)."""

    def __init__(self, name: str, inputs: np.ndarray) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter([{name: x[None]} for x in inputs])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def make_reduced(float32_file: Path, precision: str, out: Path, calibration: np.ndarray | None = None) -> Path:
    """Write the ``precision`` variant of a float32 export to ``out`` atomically; INT8 needs ``calibration`` inputs."""
    if precision not in REDUCED_PRECISIONS:
        raise UserError(f"precision must be one of {REDUCED_PRECISIONS}, not {precision!r}")
    source = onnx.load(str(float32_file))
    metadata = parse_metadata({prop.key: prop.value for prop in source.metadata_props})
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / f"{precision}.onnx"
        folded = folded_graph(float32_file)
        if precision == "int8":
            if calibration is None or len(calibration) == 0:
                raise UserError("INT8 quantization needs calibration inputs (real patches)")
            _quantize_int8(folded, metadata["input_name"], calibration[:CALIBRATION_PATCHES], staged, Path(folder))
        else:
            from onnxruntime.transformers.float16 import convert_float_to_float16

            onnx.save(convert_float_to_float16(folded, keep_io_types=True), str(staged))
        graph = onnx.load(str(staged))
        _set_metadata(graph, {**metadata, "precision": precision}, staged)
        with atomic_output(out) as temporary:
            onnx.save(graph, str(temporary))
    return Path(out)


def _quantize_int8(folded: onnx.ModelProto, input_name: str, calibration: np.ndarray, out: Path, folder: Path) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    folded_path, prepared = folder / "folded.onnx", folder / "prepared.onnx"
    onnx.save(folded, str(folded_path))
    convolutions = [node.name for node in folded.graph.node if node.op_type == "Conv"]
    quant_pre_process(str(folded_path), str(prepared), skip_symbolic_shape=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrator prints its progress: not a job's line
        quantize_static(
            str(prepared), str(out), _Calibration(input_name, calibration), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": CALIBRATION_PERCENTILE},
            op_types_to_quantize=QUANTIZED_OPS, nodes_to_exclude=[convolutions[0], convolutions[-1]],
        )  # fmt: skip


def _set_metadata(graph: onnx.ModelProto, metadata: dict, path: Path) -> None:
    """The float32 file's metadata on the reduced graph, with the reduced graph's own reference outputs."""
    del graph.metadata_props[:]
    inputs = reference_input(ModelConfig.from_dict(metadata["model_config"]))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {metadata["input_name"]: inputs})[0]
    values = {**metadata, "reference_output": encode_reference_output(outputs)}
    onnx.helper.set_model_props(graph, {KEY_PREFIX + key: json.dumps(value) for key, value in values.items()})


def preferred_variant(location: str, precision: str, device: str) -> tuple[str, str]:
    """The file to run for a float32 ONNX file at ``location``: itself, or a verified variant native to ``device``.

    Only ``precision="auto"`` looks for a variant: float16 on CUDA, INT8 on a CPU with VNNI or
    AMX-INT8, each used only when it lies beside the file with a passing report for its bytes.
    Returns the location and why it was chosen.
    """
    from equicr.deploy.reports import require_passing_report
    from equicr.hardware import cpu_has_native_int8
    from equicr.storage import file_sha256, local_path

    if precision != "auto":
        return location, "float32, as requested"
    if device == "cuda":
        wanted, why = "float16", "CUDA runs half precision natively"
    elif cpu_has_native_int8():
        wanted, why = "int8", "the CPU has VNNI or AMX-INT8"
    else:
        return location, "float32: the CPU has no 8-bit dot-product instructions (VNNI, AMX)"
    variant = reduced_location(location, wanted)
    try:
        require_passing_report(variant, file_sha256(local_path(variant)))
    except (UserError, OSError) as error:
        return location, f"float32: no verified {wanted} file beside it ({error})"
    return variant, f"{wanted}: {why}"
