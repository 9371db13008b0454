"""How a decloud job runs, as one frozen value that travels from the job to every actor and into the record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from equicr.data.clouds import CLOUD_RESOLUTIONS_M, SCENE_CLOUD_RESOLUTION_M
from equicr.decloud.tiling import DEFAULT_TILE_SIZE
from equicr.errors import UserError
from equicr.models import PRECISION_CHOICES
from equicr.postprocessing import DEFAULT_POSTPROCESSING, POSTPROCESSING


@dataclass(frozen=True)
class DecloudSettings:
    """Everything besides the model that decides a decloud output, and how work is handed to actors."""

    tile_size: int = DEFAULT_TILE_SIZE  # output tile side: one work unit and one output chunk
    halo: int | None = None  # pixels read around each tile; None: the model's receptive-field radius (exact)
    postprocessing: str = DEFAULT_POSTPROCESSING  # how prediction and cloudy input meet (equicr.postprocessing)
    precision: str = "auto"  # "fp32", "bf16", or "auto" (what the device runs natively), as jobs/decloud.py
    cloud_resolution_m: int = SCENE_CLOUD_RESOLUTION_M  # metres at which s2cloudless runs for the post-processing
    batch_size: int = 1  # tiles per actor call: how work is grouped, not what the output is

    def __post_init__(self) -> None:
        if self.tile_size < 1 or self.batch_size < 1:
            raise UserError(f"tile_size and batch_size must be at least 1, got {self.tile_size}, {self.batch_size}")
        if self.halo is not None and self.halo < 0:
            raise UserError(f"halo must not be negative, got {self.halo}")
        if self.postprocessing not in POSTPROCESSING:
            raise UserError(f"post-processing must be one of {POSTPROCESSING}, not {self.postprocessing!r}")
        if self.precision not in PRECISION_CHOICES:
            raise UserError(f"precision must be one of {PRECISION_CHOICES}, not {self.precision!r}")
        if self.cloud_resolution_m not in CLOUD_RESOLUTIONS_M:
            raise UserError(f"cloud detection runs at {CLOUD_RESOLUTIONS_M} m, not {self.cloud_resolution_m} m")

    def for_model(self, receptive_field_radius: int) -> DecloudSettings:
        """These settings with the halo filled in: the model's receptive-field radius unless one was given."""
        halo = receptive_field_radius if self.halo is None else self.halo
        return dataclasses.replace(self, halo=halo)

    def record(self) -> dict[str, Any]:
        """What an output records of these settings: every field that decides the output (not the batching)."""
        values = dataclasses.asdict(self)
        del values["batch_size"]
        return values
