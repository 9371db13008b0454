"""A folder of real Sentinel data (``--root``, ``$EQUICR_REAL_DATA``) sorted into test bench and training ground.

A model is judged on real clouds it never saw, so the split is by scene, not by patch: no scene
that holds a test-bench patch gives a training background, and the Rome tile of SEN12MS-CR-TS is
held out from training entirely, by scene. The folder's layout and flags are described in its
``README.md``:

- **real-cloud pairs** (optical-only input): the 9 ``real_cloud_ok`` pairs of ``real-pairs`` and
  the 16 cloudy dates of the Rome series with their nearest clear date;
- **do-no-harm pairs**: the 19 ``no_cloud`` pairs of ``real-pairs`` (the "cloudy" date is clear);
- **triplets** (SAR + optical): the 2 of ``sen12mscr-mini`` and the 10 of ``real-triplets`` (the
  latter without georeference or scene name: each is its own scene, so it cannot be proven apart
  from a background of the same place; no background comes from their folder);
- **clear backgrounds**: every other clear Sentinel-2 patch (the clear dates of ``real-pairs``
  except targets flagged ``hazy_target``, ``s1-s2-extra``), with its Sentinel-1 where one exists.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from equicr.data.sen12mscr import parse_file_name, patch_path
from equicr.errors import UserError
from equicr.paths import SHIPPED_BACKGROUNDS_DIR

#: Flags of real-pairs/PAIRS.tsv (see the data README).
REAL_CLOUD_FLAG, NO_CLOUD_FLAG, HAZY_TARGET_FLAG = "real_cloud_ok", "no_cloud", "hazy_target"
#: The SEN12MS-CR-TS tile near Rome: test bench only, never training ground.
ROME_SCENE = "ROIs2017_146-ts"


@dataclass(frozen=True)
class RealPatch:
    """One real patch: where its images are, and the scene it belongs to."""

    name: str
    scene: str
    s2: Path
    s2_cloudy: Path | None = None
    s1: Path | None = None


@dataclass
class RealData:
    """The shared folder's patches by role. ``check_disjoint`` proves the split is by scene."""

    real_cloud_pairs: list[RealPatch] = field(default_factory=list)
    do_no_harm_pairs: list[RealPatch] = field(default_factory=list)
    triplets: list[RealPatch] = field(default_factory=list)
    backgrounds: list[RealPatch] = field(default_factory=list)
    root: Path | None = None  # the folder, for the Virginia product (equicr.data.virginia), when it holds one

    def virginia(self, folder: Path, area: str) -> list[RealPatch]:
        """The Virginia product's land patches of ``area`` as GeoTIFFs written under ``folder``.

        "training": backgrounds for composites; "unseen": the test bench's clear land. None when the
        folder holds no Virginia product.
        """
        from equicr.data.virginia import VIRGINIA_DIR, virginia_geotiffs

        if self.root is None or not (self.root / VIRGINIA_DIR).is_dir():
            return []
        return virginia_geotiffs(self.root, Path(folder), area)

    @property
    def test_bench(self) -> list[RealPatch]:
        return self.real_cloud_pairs + self.do_no_harm_pairs + self.triplets

    def check_disjoint(self) -> None:
        """ValueError naming any scene that is both in the test bench and training ground."""
        shared = {p.scene for p in self.test_bench} & {p.scene for p in self.backgrounds}
        if shared or any(p.scene == ROME_SCENE for p in self.backgrounds):
            raise UserError(f"scenes both in the test bench and in training: {sorted(shared | {ROME_SCENE})}")


def sen12mscr_scene(path: Path) -> tuple[str, str]:
    """(scene, patch name) of a file named as SEN12MS-CR names them, e.g. ROIs1158_spring_39 and ..._p838."""
    parsed = parse_file_name(path)
    if parsed is None:
        raise UserError(f"{path}: not a SEN12MS-CR file name (ROIs<id>_<season>_<kind>_<scene>_p<patch>.tif)")
    season, _, scene, patch = parsed
    return f"{season}_{scene}", f"{season}_{scene}_p{patch}"


def _sibling(path: Path, kind: str) -> Path | None:
    """The file of another kind (s1, s2_cloudy) of the same SEN12MS-CR patch in the released layout, if there."""
    season, _, scene, patch = parse_file_name(path)
    sibling = patch_path(path.parents[2], season, kind, scene, patch)
    return sibling if sibling.is_file() else None


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file, delimiter="\t"))


def load_real_data(root: Path) -> RealData:
    """Sort the shared folder at ``root`` into test bench and clear backgrounds; the split is checked."""
    data = RealData(root=Path(root))
    pairs_root = root / "real-pairs"
    flags: dict[Path, str] = {}
    for row in _read_tsv(pairs_root / "PAIRS.tsv"):
        clear, cloudy = pairs_root / row["s2"], pairs_root / row["s2_cloudy"]
        flags[clear] = row["flag"]
        scene, name = sen12mscr_scene(clear)
        patch = RealPatch(name, scene, clear, cloudy)
        if row["flag"] == REAL_CLOUD_FLAG:
            data.real_cloud_pairs.append(patch)
        elif row["flag"] == NO_CLOUD_FLAG:
            data.do_no_harm_pairs.append(patch)
    rome = root / "sen12mscr-ts-rome"
    for row in _read_tsv(rome / "PAIRS_nearest_clear.tsv"):
        name = f"rome_{row['cloudy_date']}"
        data.real_cloud_pairs.append(RealPatch(name, ROME_SCENE, rome / row["nearest_clear"], rome / row["cloudy"]))
    data.triplets = real_triplets(root)

    test_scenes = {p.scene for p in data.test_bench}
    for patch in clear_patches(pairs_root) + clear_patches(root / "s1-s2-extra"):
        if patch.scene not in test_scenes and flags.get(patch.s2) != HAZY_TARGET_FLAG:
            data.backgrounds.append(patch)
    data.check_disjoint()
    return data


def real_triplets(root: Path) -> list[RealPatch]:
    """The 12 real triplets: ``sen12mscr-mini`` (georeferenced) and ``real-triplets`` (named ``real_<stem>``)."""
    triplets = []
    for clear in sorted((root / "sen12mscr-mini").glob("*_s2/*/*.tif")):
        scene, name = sen12mscr_scene(clear)
        triplets.append(RealPatch(name, scene, clear, _sibling(clear, "s2_cloudy"), _sibling(clear, "s1")))
    loose = root / "real-triplets"
    for clear in sorted((loose / "s2").glob("*.tif")):
        cloudy, s1 = loose / "s2_cloudy" / clear.name, loose / "s1" / clear.name
        triplets.append(RealPatch(f"real_{clear.stem}", f"real-triplets/{clear.stem}", clear, cloudy, s1))
    return triplets


def clear_patches(folder: Path) -> list[RealPatch]:
    """The clear Sentinel-2 patches of a folder in the SEN12MS-CR layout, each with its Sentinel-1 if there."""
    patches = []
    for clear in sorted(folder.glob("*_s2/*/*.tif")):
        scene, name = sen12mscr_scene(clear)
        patches.append(RealPatch(name, scene, clear, s1=_sibling(clear, "s1")))
    return patches


def shipped_backgrounds() -> list[RealPatch]:
    """The real clear backgrounds shipped in the package (attribution beside them).

    Enough for the demo's composites on a fresh clone without the shared data folder.
    """
    return clear_patches(SHIPPED_BACKGROUNDS_DIR)


def scenes(patches: Iterable[RealPatch]) -> set[str]:
    """The scenes some patches come from."""
    return {patch.scene for patch in patches}


#: The collections of the real-cloud test bench, by name: what each holds is in the module docstring.
REAL_CLOUDS, TRIPLETS, DO_NO_HARM, VIRGINIA_UNSEEN = "real-clouds", "triplets", "do-no-harm", "virginia-unseen"


def triplet_records(patches: Iterable[RealPatch], split: str = "test") -> list[tuple[str, dict[str, Path], str]]:
    """(patch id, {"s1", "s2_cloudy", "s2"} paths, split) records of triplets, for :func:`ingest_triplets`."""
    return [(p.name, {"s1": p.s1, "s2_cloudy": p.s2_cloudy, "s2": p.s2}, split) for p in patches]
