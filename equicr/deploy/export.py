"""Export a cloud-removal network to a single self-describing ONNX file.

EquiCR is exported compact by default: the graph stores the trainable basis coefficients and
escnn's sampled bases and expands the filters itself (an Einsum per layer that ONNX Runtime folds
at load; see :mod:`equicr.deploy.compact`), so the file is about the size of the parameters.
``filters="expanded"`` stores the expanded ``Conv2d`` filters instead (escnn's ``export()``), about
6x larger. DSen2-CR is plain already. Batch, height and width are dynamic. ``weights_dtype="float16"``
stores the weights in half precision (half the file) and casts them back to float32 in the graph,
so computation stays float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from equicr.deploy.compact import compact_model
from equicr.deploy.metadata import (
    FILTER_FORMS,
    INPUT_NAME,
    OUTPUT_NAME,
    WEIGHT_DTYPES,
    build_metadata,
    reference_input,
)
from equicr.errors import UserError
from equicr.models import ModelConfig, count_parameters
from equicr.models.equivariant import EquiCR
from equicr.storage import atomic_output

#: ONNX opset of exported files.
OPSET = 18


def plain_torch_model(model: nn.Module) -> nn.Module:
    """The network as plain PyTorch modules in eval mode (escnn models are exported first)."""
    return model.export() if isinstance(model, EquiCR) else model.eval()


def export_onnx(
    model: nn.Module,
    config: ModelConfig,
    out: str | Path,
    checkpoint_sha256: str | None = None,
    weights_dtype: str = "float32",
    filters: str = "basis",
) -> Path:
    """Write ``model`` to ``out`` as ONNX with dynamic batch, height and width and EquiCR metadata."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise UserError(f"weights_dtype must be one of {WEIGHT_DTYPES}, not {weights_dtype!r}")
    if filters not in FILTER_FORMS:
        raise UserError(f"filters must be one of {FILTER_FORMS}, not {filters!r}")
    compact = isinstance(model, EquiCR) and filters == "basis"
    plain = compact_model(model) if compact else plain_torch_model(model)
    example = torch.rand(
        1, config.in_channels, 2 * config.receptive_field_radius + 8, 2 * config.receptive_field_radius + 9
    )
    dynamic = {axis: torch.export.Dim.DYNAMIC for axis in (0, 2, 3)}  # batch, height, width
    with tempfile.TemporaryDirectory() as folder:
        traced = Path(folder) / "model.onnx"
        torch.onnx.export(
            plain, (example,), str(traced), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=(dynamic,), opset_version=OPSET,
            dynamo=True, external_data=False, verbose=False,
            optimize=not compact,  # the exporter's optimizer would fold the basis expansion into the file
        )  # fmt: skip
        graph = onnx.load(str(traced))
    for node in graph.graph.node:  # the exporter's per-node debug records (stack traces): not for deployment
        del node.metadata_props[:]
        node.doc_string = ""
    if weights_dtype == "float16":
        store_weights_as_float16(graph)
    with torch.no_grad():
        reference_output = plain(torch.from_numpy(reference_input(config))).numpy()
    metadata = build_metadata(
        config, count_parameters(model), checkpoint_sha256, weights_dtype, "basis" if compact else "expanded",
        reference_output,
    )  # fmt: skip
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph)
    with atomic_output(out) as temporary:  # a failed export never leaves a file that looks finished
        onnx.save(graph, str(temporary))
    return Path(out)


def store_weights_as_float16(graph: onnx.ModelProto) -> None:
    """Replace each float32 initializer by a float16 copy plus a Cast back to float32 at the graph's start."""
    casts, kept = [], []
    for initializer in graph.graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT:
            kept.append(initializer)
            continue
        half = numpy_helper.from_array(
            numpy_helper.to_array(initializer).astype(np.float16), f"{initializer.name}_fp16"
        )
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=onnx.TensorProto.FLOAT))
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept)
    nodes = casts + list(graph.graph.node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
