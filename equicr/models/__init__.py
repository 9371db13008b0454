"""Cloud-removal networks: EquiCR (escnn, equivariant) and the DSen2-CR baseline, from one config.

The config and its vocabulary (architectures, groups, precisions) import in a blink; the builders
and networks pull in torch and escnn, so they load on first use. A job's ``--help`` and argument
checks therefore answer before any heavy import.
"""

from __future__ import annotations

import importlib
from typing import Any

from equicr.models.config import (
    ARCHITECTURE_NAMES,
    ARCHITECTURES,
    CLOUDY_INPUT,
    GROUPS,
    PRECISION_CHOICES,
    PRECISIONS,
    ModelConfig,
    Precision,
)

#: Names this package exports that live in modules importing torch and escnn.
_HEAVY: dict[str, str] = {
    "build_model": "equicr.models.build",
    "count_parameters": "equicr.models.build",
    "equal_parameter_config": "equicr.models.build",
    "set_activation_checkpointing": "equicr.models.build",
    "EquiCR": "equicr.models.equivariant",
    "CloudRemovalNet": "equicr.models.plain",
}

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_NAMES",
    "CLOUDY_INPUT",
    "GROUPS",
    "PRECISIONS",
    "PRECISION_CHOICES",
    "ModelConfig",
    "Precision",
    *_HEAVY,
]


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        return getattr(importlib.import_module(_HEAVY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
