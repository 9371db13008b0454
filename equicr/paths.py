"""Locations the package finds on its own: the shared folder of real SEN12MS-CR patches."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the flat layout puts the package directly beneath it).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Real Sentinel patches shipped beside the checkout; override with EQUICR_SHARED_DATA.
SHARED_DATA_DIR = Path(os.environ.get("EQUICR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
#: Two complete triplets in the official SEN12MS-CR layout, georeferenced.
SEN12MSCR_MINI_DIR = SHARED_DATA_DIR / "sen12mscr-mini"
#: Ten triplets without georeference, with a rough cloud mask each.
REAL_TRIPLETS_DIR = SHARED_DATA_DIR / "real-triplets"
#: What the package ships: a few real clear backgrounds and a small model trained on real ground.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
SHIPPED_BACKGROUNDS_DIR = ASSETS_DIR / "backgrounds"
#: The small model of preset `real` shipped for a first look (its model card is beside it).
SHIPPED_MODEL = ASSETS_DIR / "models" / "real-best.pt"
