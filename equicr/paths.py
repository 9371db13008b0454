"""Where the package finds what it ships, and where outputs go when the user names no place.

The package never reads a development checkout: real Sentinel data comes from a folder the user
names (an option, or the :data:`REAL_DATA_ENV` environment variable), and outputs without a named
place go under the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

#: What the package ships: a few real clear backgrounds and a small model trained on real ground.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
SHIPPED_BACKGROUNDS_DIR = ASSETS_DIR / "backgrounds"
#: The small model of preset `real` shipped for a first look (its model card is beside it).
SHIPPED_MODEL = ASSETS_DIR / "models" / "real-best.pt"
#: The environment variable that names a folder of real Sentinel data (SEN12MS-CR-style patches,
#: real cloudy/clear pairs, clear backgrounds), the default of every ``--root`` and ``--real-data``.
REAL_DATA_ENV = "EQUICR_REAL_DATA"
#: Outputs that have no place named, relative to the current working directory.
DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_DATA_DIR = Path("data")
DEFAULT_OUTPUTS_DIR = Path("outputs")


def real_data_dir() -> Path | None:
    """The folder of real Sentinel data named by :data:`REAL_DATA_ENV`, or None when none is named."""
    named = os.environ.get(REAL_DATA_ENV)
    return Path(named) if named else None
