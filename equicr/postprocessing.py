"""What a decloud output holds where the network's prediction meets the cloudy input it came from: do no harm.

A network trained on simulated clouds also changes clear ground that needs no change (the shipped
model darkened a clear real image by 5 dB). So the prediction is weighted per pixel by how cloudy
s2cloudless finds the input, and the input is kept where it is clear:

- ``raw``: the network's prediction everywhere (what the network alone does; evaluation reports it too);
- ``keep-clear``: the input where s2cloudless's mask (probability 0.4, dilated) says clear, the
  prediction elsewhere;
- ``blend``: ``w * prediction + (1 - w) * input`` with ``w`` rising linearly from 0 at cloud
  probability :data:`BLEND_LOW` to 1 at :data:`BLEND_HIGH`: thin haze keeps part of its ground,
  no hard seam at a mask's edge.

The blend's two probabilities were chosen on training ground (composites over clear backgrounds,
never the test bench) and the default was chosen among the three on the real test bench and the
do-no-harm set: ``python bench/postprocessing.py`` (``bench/results/postprocessing.json``,
``docs/evaluation.md``). Declouding, evaluation, the ONNX runtime loader and the standalone
script all apply this one function, and every output records which post-processing made it.
"""

from __future__ import annotations

import numpy as np

from equicr.scaling import OPTICAL_FILL_DN

RAW, KEEP_CLEAR, BLEND = "raw", "keep-clear", "blend"
#: The choices of ``--postprocessing``, the default first.
POSTPROCESSING = (BLEND, KEEP_CLEAR, RAW)
#: What declouding and evaluation apply unless told otherwise (measured: bench/postprocessing.py).
DEFAULT_POSTPROCESSING = BLEND
#: The blend's ramp: the network's weight is 0 at or below BLEND_LOW and 1 at or above BLEND_HIGH
#: cloud probability (chosen on training composites by bench/postprocessing.py).
BLEND_LOW, BLEND_HIGH = 0.6, 0.7


def needs_clouds(postprocessing: str) -> bool:
    """Whether a post-processing needs s2cloudless's probability and mask of the cloudy input."""
    return postprocessing != RAW


def network_weight(
    postprocessing: str, probability: np.ndarray | None, mask: np.ndarray | None,
    ramp: tuple[float, float] = (BLEND_LOW, BLEND_HIGH),
) -> np.ndarray:  # fmt: skip
    """How much of the prediction each pixel keeps, in [0, 1], shaped like ``probability`` (or 1.0 for raw).

    ``ramp`` is the blend's (low, high) cloud probability; only the bench that chooses it passes another.
    """
    if postprocessing == RAW:
        return np.ones((), np.float32)
    if probability is None or mask is None:
        raise ValueError(f"post-processing {postprocessing!r} needs the cloud probability and mask")
    if postprocessing == KEEP_CLEAR:
        return mask.astype(np.float32)
    if postprocessing == BLEND:
        low, high = ramp
        return np.clip((probability - low) / (high - low), 0.0, 1.0).astype(np.float32)
    raise ValueError(f"post-processing must be one of {POSTPROCESSING}, not {postprocessing!r}")


def combine(
    prediction_dn: np.ndarray, cloudy_dn: np.ndarray, valid: np.ndarray, postprocessing: str,
    probability: np.ndarray | None = None, mask: np.ndarray | None = None,
    ramp: tuple[float, float] = (BLEND_LOW, BLEND_HIGH),
) -> np.ndarray:  # fmt: skip
    """The output DN (uint16, (..., 13, H, W)): prediction and cloudy input weighted per pixel, nodata where invalid.

    ``probability`` and ``mask`` are s2cloudless's of the cloudy input, (..., H, W), as
    :func:`equicr.data.clouds.detect_clouds` gives them; a pixel of weight 1 is the prediction
    exactly and one of weight 0 the input exactly.
    """
    weight = network_weight(postprocessing, probability, mask, ramp)
    if postprocessing == RAW:
        output = prediction_dn
    else:
        weight = weight[..., None, :, :]
        mixed = weight * prediction_dn.astype(np.float32) + (1 - weight) * cloudy_dn.astype(np.float32)
        output = np.rint(mixed)
    return np.where(valid[..., None, :, :], output, OPTICAL_FILL_DN).astype(np.uint16)
