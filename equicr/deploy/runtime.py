"""Run an exported model with ONNX Runtime from the file alone: sensor units in, Sentinel-2 DN out.

The session picks TensorRT or CUDA where ONNX Runtime offers them and the CPU otherwise, and
reports which provider actually runs: ``onnxruntime-gpu`` without a usable GPU silently falls back
to the CPU, so the requested list says nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from equicr.data.clouds import image_clouds
from equicr.deploy.metadata import parse_metadata, scaling_constants
from equicr.errors import UserError
from equicr.postprocessing import DEFAULT_POSTPROCESSING, combine, needs_clouds
from equicr.scaling import network_inputs, predicted_optical_dn, valid_input_mask

#: Execution providers in order of preference.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: list[str] | None = None) -> list[str]:
    """The preferred providers this ONNX Runtime build offers, best first."""
    available = ort.get_available_providers() if available is None else available
    return [provider for provider in PREFERRED_PROVIDERS if provider in available]


class CloudRemovalSession:
    """An ONNX Runtime session of an EquiCR or DSen2-CR file, with the file's own metadata."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX file {self.path} does not exist")
        self.requested_providers = providers or choose_providers()
        try:
            self.session = ort.InferenceSession(str(self.path), providers=self.requested_providers)
        except Exception as error:  # ONNX Runtime's own exception types: a damaged or foreign file
            raise UserError(f"{self.path} is not a loadable ONNX model: {error}") from error
        self.metadata = parse_metadata(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata["scaling"] != scaling_constants():
            raise UserError(
                f"{self.path} was exported with scaling {self.metadata['scaling']}, "
                f"this version of equicr uses {scaling_constants()}"
            )
        self.input_bands = tuple(self.metadata["input_bands"])

    @property
    def active_provider(self) -> str:
        """The provider that actually runs the graph (the first one the session kept)."""
        return self.session.get_providers()[0]

    def run_network(self, inputs: np.ndarray) -> np.ndarray:
        """Network units in (N, C, H, W) float32, network units out (N, 13, H, W)."""
        name = self.metadata["input_name"]
        return self.session.run(None, {name: np.ascontiguousarray(inputs, dtype=np.float32)})[0]

    def network_inputs(self, s1_db: np.ndarray | None, s2_cloudy_dn: np.ndarray | None) -> np.ndarray:
        """Stack and scale the sensor images this model's input mode needs, (..., C, H, W) float32."""
        return network_inputs(s1_db, s2_cloudy_dn, self.metadata["model_config"]["input_mode"])

    def predict_dn(
        self, s1_db: np.ndarray | None, s2_cloudy_dn: np.ndarray | None, postprocessing: str = DEFAULT_POSTPROCESSING
    ) -> np.ndarray:
        """Cloud-free Sentinel-2 DN (uint16) from S1 dB and cloudy S2 DN, each (N, bands, H, W) or (bands, H, W).

        What declouding writes: pixels where an input holds no measurement are nodata (DN 0), and
        the prediction meets the cloudy input as ``postprocessing`` says (:mod:`equicr.postprocessing`;
        every choice but "raw" needs ``s2_cloudy_dn``, even for a model that reads only SAR).
        """
        inputs = self.network_inputs(s1_db, s2_cloudy_dn)
        batched = inputs[None] if inputs.ndim == 3 else inputs
        prediction = self.run_network(batched)
        valid = valid_input_mask(s1_db, s2_cloudy_dn, self.metadata["model_config"]["input_mode"])
        output = predicted_optical_dn(prediction[0] if inputs.ndim == 3 else prediction, valid)
        if not needs_clouds(postprocessing):
            return output
        if s2_cloudy_dn is None:
            raise UserError(f"post-processing {postprocessing!r} needs the cloudy image: pass it, or choose 'raw'")
        clouds = image_clouds(s2_cloudy_dn)
        probability, mask = (clouds.probability[0], clouds.mask[0]) if inputs.ndim == 3 else (clouds.probability,
                                                                                              clouds.mask)  # fmt: skip
        return combine(output, s2_cloudy_dn, valid, postprocessing, probability, mask)
