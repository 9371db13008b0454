"""Completion markers: the one way anything a job writes says which of its units are finished.

Zarr returns the fill value for a chunk that was never written, so "not written" and "written as
all fill" look alike: completion needs a marker of its own, set only after a unit's data is
written. A :class:`CompletionMarkers` is one boolean Zarr array beside the data, one entry per unit
(rslearn's ``is_layer_completed`` / ``mark_layer_completed`` is the model):

- patches of a ``patches`` collection: ``complete``, one per patch (set by the one ingest driver,
  since its chunks hold many patches);
- chunk windows of a scene being ingested: ``ingest_done``, one per window, in chunks of one;
- work units (tiles) of a scene's decloud output: ``decloud_done``, one per tile, in chunks of one.

An item as a whole (a scene, a scene's output) is complete once all its units are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import zarr


class CompletionMarkers:
    """Which units of an item are finished: one boolean per unit, stored beside the data."""

    def __init__(self, group: zarr.Group, name: str) -> None:
        self.array = group[name]

    @classmethod
    def create(
        cls, group: zarr.Group, name: str, shape: tuple[int, ...], dimension_names: Sequence[str],
        chunks: tuple[int, ...] | None = None,
    ) -> CompletionMarkers:  # fmt: skip
        """New markers, every unit unfinished; ``chunks`` default to one unit each (writers of units never share)."""
        group.create_array(
            name, shape=shape, chunks=chunks or (1,) * len(shape), dtype="bool", fill_value=False,
            dimension_names=list(dimension_names), overwrite=True,
        )  # fmt: skip
        return cls(group, name)

    def completed(self) -> np.ndarray:
        """The finished flag of every unit."""
        return self.array[...]

    def is_completed(self, unit: int | tuple[int, ...]) -> bool:
        """Whether one unit is finished."""
        return bool(self.array[unit])

    def all_completed(self) -> bool:
        """Whether every unit is finished."""
        return bool(self.completed().all())

    def mark_completed(self, unit: int | slice | tuple) -> None:
        """Mark a unit (or a run of units) finished; call only after its data is written."""
        self.array[unit] = True
