"""The released SEN12MS-CR GeoTIFF tree: index it, pair the triplets, assign the official splits.

Layout: ``ROIs1158_spring_s1/s1_1/ROIs1158_spring_s1_1_p407.tif`` with ``_s2`` and ``_s2_cloudy``
twins. Splits follow UnCRtainTS but match scenes exactly: its loader matches folders by substring,
so scene ``s1_1`` also takes scenes 106, 123 and 140 and leaks test patches into training.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from equicr.bands import PATCH_SIZE, TRIPLET
from equicr.data.rasters import GeoReference, RasterError, read_raster

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
SEASONS: tuple[str, ...] = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")
TEST_SCENES: dict[str, frozenset[int]] = {
    "ROIs1158_spring": frozenset({106, 123, 140, 31, 44}),
    "ROIs1868_summer": frozenset({119, 73}),
    "ROIs1970_fall": frozenset({139}),
    "ROIs2017_winter": frozenset({108, 63}),
}
VAL_SCENES: dict[str, frozenset[int]] = {
    "ROIs2017_winter": frozenset({22, 107, 130, 84}),
    "ROIs1868_summer": frozenset({19, 80, 127, 17}),
    "ROIs1970_fall": frozenset({65}),
    "ROIs1158_spring": frozenset({17}),
}
_FILE_NAME = re.compile(r"^(?P<season>ROIs\d+_[a-z]+)_(?P<kind>s1|s2|s2_cloudy)_(?P<scene>\d+)_p(?P<patch>\d+)\.tif$")


def parse_file_name(path: Path) -> tuple[str, str, int, int] | None:
    """(season, kind, scene, patch) of a file named as the released tree names them, or None."""
    match = _FILE_NAME.match(path.name)
    return None if match is None else (match["season"], match["kind"], int(match["scene"]), int(match["patch"]))


def split_of(season: str, scene: int) -> Split:
    """The official split of a scene, by exact scene number."""
    if scene in TEST_SCENES.get(season, ()):
        return "test"
    if scene in VAL_SCENES.get(season, ()):
        return "val"
    return "train"


@dataclass(frozen=True)
class PatchRecord:
    """One patch of the tree: where it is, which split it belongs to, and its three files."""

    season: str
    scene: int
    patch: int
    paths: dict[str, Path]

    @property
    def patch_id(self) -> str:
        """Stable name of the patch, e.g. ``ROIs1970_fall_139_p839``."""
        return f"{self.season}_{self.scene}_p{self.patch}"

    @property
    def split(self) -> Split:
        """Official split of the patch's scene."""
        return split_of(self.season, self.scene)


def patch_path(root: Path, season: str, kind: str, scene: int, patch: int) -> Path:
    """Where the released tree keeps one file of a patch."""
    return root / f"{season}_{kind}" / f"{kind}_{scene}" / f"{season}_{kind}_{scene}_p{patch}.tif"


def index_tree(root: str | Path) -> tuple[list[PatchRecord], list[str]]:
    """Every complete triplet under ``root``, sorted by id, and a problem line per incomplete one.

    Only file names are looked at here; :func:`read_triplet` checks the contents.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SEN12MS-CR root {root} is not a folder")
    found: dict[tuple[str, int, int], dict[str, Path]] = defaultdict(dict)
    for path in root.glob("ROIs*_*/*_*/*.tif"):
        parsed = parse_file_name(path)
        if parsed is None or path.parent.name != f"{parsed[1]}_{parsed[2]}":
            continue
        season, kind, scene, patch = parsed
        found[(season, scene, patch)][kind] = path
    records, problems = [], []
    for (season, scene, patch), paths in sorted(found.items()):
        missing = [kind for kind in TRIPLET if kind not in paths]
        if missing:
            expected = [str(patch_path(root, season, kind, scene, patch)) for kind in missing]
            problems.append(f"{season} scene {scene} patch {patch}: missing {', '.join(expected)}")
            continue
        records.append(PatchRecord(season, scene, patch, {kind: paths[kind] for kind in TRIPLET}))
    return records, problems


@dataclass(frozen=True)
class Triplet:
    """The pixels of one patch (s1 in dB, s2_cloudy and s2 in DN) and their shared georeference."""

    s1: np.ndarray
    s2_cloudy: np.ndarray
    s2: np.ndarray
    geo: GeoReference


def read_triplet(paths: dict[str, Path], size: tuple[int, int] | None = (PATCH_SIZE, PATCH_SIZE)) -> Triplet:
    """Read and check a triplet: bands, dtypes, size, and one CRS and transform for the three files."""
    rasters = {kind: read_raster(paths[kind], kind, size=size) for kind in TRIPLET}
    reference = rasters["s1"]
    for kind in ("s2_cloudy", "s2"):
        if rasters[kind].geo != reference.geo:
            raise RasterError(
                f"{rasters[kind].path} is on a different grid from {reference.path}: "
                f"{rasters[kind].geo} != {reference.geo}"
            )
    return Triplet(rasters["s1"].data, rasters["s2_cloudy"].data, rasters["s2"].data, reference.geo)
