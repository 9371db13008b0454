"""Simulated data into collections: seeded synthetic patches and scenes, and composites over real ground.

Synthetic scenes (:mod:`equicr.data.synthetic`) are drawn in order from one seeded generator, so
patch ``i`` is the ``i``-th draw: a rerun draws the skipped ones again and writes only the
missing ones. Composite ``i`` (:mod:`equicr.data.composite`) depends only on ``(seed, i)``. Both
go through the one patch writer (:mod:`equicr.ingest.patches`), synthetic scenes through the
one scene writer (:mod:`equicr.ingest.scenes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from equicr.data.composite import (
    CLOUD_KINDS,
    VALIDATION_EVERY,
    composite_split,
    make_composite,
    require_cloud_generator,
)
from equicr.data.real import RealPatch
from equicr.data.scenes import scene_names
from equicr.data.synthetic import SyntheticScene, make_scene
from equicr.errors import UserError
from equicr.ingest.patches import PatchPixels, write_patches
from equicr.ingest.report import IngestReport
from equicr.ingest.scenes import create_scenes, write_scene
from equicr.lease import exclusive_writer
from equicr.storage import atomic_output


@dataclass
class SyntheticDraws:
    """Makes synthetic patch ``i`` as the ``i``-th draw of one seeded generator; called in increasing order."""

    seed: int
    size: int
    _rng: np.random.Generator = field(init=False)
    _drawn: int = field(default=0, init=False)
    _last: SyntheticScene | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, index: int) -> PatchPixels:
        if index < self._drawn - 1:
            raise UserError(f"synthetic patch {index} was asked for after patch {self._drawn - 1}: draws run forward")
        while self._drawn <= index:  # the skipped (complete) patches are drawn too: the sequence must not shift
            self._last = make_scene(self._rng, (self.size, self.size))
            self._drawn += 1
        scene = self._last
        return PatchPixels(scene.s1, scene.s2_cloudy, scene.s2, scene.geo)


def write_synthetic_patches(
    out: str | Path, count: int, size: int = 256, seed: int = 0, split_fractions: tuple[float, float] = (0.8, 0.1)
) -> str | Path:
    """Write a complete patches collection of ``count`` synthetic triplets with s2cloudless cover.

    The first ``split_fractions[0]`` of the patches are train, the next ``split_fractions[1]`` val,
    the rest test. A rerun after an interruption resumes (the seed gives the same patches).
    """
    n_train = round(count * split_fractions[0])
    n_val = round(count * split_fractions[1])
    splits = ["train"] * n_train + ["val"] * n_val + ["test"] * (count - n_train - n_val)
    ids = [f"synthetic_{seed}_p{i}" for i in range(count)]
    write_patches(out, ids, splits, SyntheticDraws(seed, size), patch_size=size, progress=False)
    return out


def ensure_synthetic_patches(
    path: Path, count: int, size: int, seed: int = 0, split_fractions: tuple[float, float] = (0.8, 0.1)
) -> Path:
    """A synthetic patches collection at ``path``, written on first use (to a temporary folder, then renamed).

    An interrupted first run leaves only the temporary folder, so a later call never finds a partial collection.
    """
    if not path.exists():
        print(f"making the synthetic collection {path} ({count} patches of {size} px)")
        with atomic_output(path) as temporary:
            write_synthetic_patches(temporary, count, size, seed, split_fractions)
    return path


def write_synthetic_scenes(out: str | Path, sizes: list[tuple[int, int]], seed: int = 0) -> str | Path:
    """Write a scenes collection with one synthetic scene per (height, width), named ``scene_<i>``.

    A rerun resumes: complete scenes are kept (every scene is still drawn, so the seed gives the
    same scenes) and an unfinished one is written again.
    """
    rng = np.random.default_rng(seed)
    with exclusive_writer(out, "ingest"):
        collection = create_scenes(out)
        done = set(scene_names(collection))
        for index, size in enumerate(sizes):
            scene = make_scene(rng, size)
            if f"scene_{index}" not in done:
                write_scene(collection, f"scene_{index}", scene.s1, scene.s2_cloudy, scene.geo)
    return out


@dataclass(frozen=True)
class Composites:
    """Makes composite ``i``: background ``i mod len(backgrounds)`` under the clouds of ``(seed, i)``."""

    backgrounds: tuple[RealPatch, ...]
    size: int
    seed: int

    def __call__(self, index: int) -> PatchPixels:
        background = self.backgrounds[index % len(self.backgrounds)]
        composite = make_composite(background, self.size, self.seed, index)
        s1 = composite.s1 if background.s1 is not None else None  # no Sentinel-1: the patch stores the fill value
        return PatchPixels(s1, composite.s2_cloudy, composite.s2, composite.geo)


def write_composites(
    backgrounds: Sequence[RealPatch], out: str | Path, count: int, size: int, seed: int = 0, progress: bool = True
) -> IngestReport:
    """Write ``count`` composites of ``size`` px into the patches collection ``out``; a rerun resumes.

    Composite ``i`` uses background ``i mod len(backgrounds)``; its split is :func:`composite_split`.
    """
    if not backgrounds:
        raise UserError("no clear backgrounds to composite onto")
    require_cloud_generator()
    if count < 1:
        raise UserError(f"--count must be at least 1, got {count}")
    provenance = {
        "generator": "satellite-cloud-generator 0.4 (Czerkawski et al., Remote Sensing 2023)",
        "seed": seed, "size": size, "validation": f"every {VALIDATION_EVERY}th composite",
        "backgrounds": [patch.name for patch in backgrounds],
        "kinds": {name: kind.weight for name, kind in CLOUD_KINDS.items()},
    }  # fmt: skip
    return write_patches(
        out, [f"composite_{seed}_{i}" for i in range(count)], [composite_split(i) for i in range(count)],
        Composites(tuple(backgrounds), size, seed), patch_size=size, attributes={"composite": provenance},
        progress=progress, description="composites",
    )  # fmt: skip
