"""The SEN12MS-CR tree: indexing, exact-scene split assignment and triplet validation."""

import numpy as np
import pytest
import rasterio

from equicr.data.rasters import GeoReference, RasterError
from equicr.data.sen12mscr import index_tree, patch_path, read_triplet, split_of
from equicr.data.synthetic import write_geotiff, write_sen12mscr_tree


def test_real_mini_tree_is_indexed_with_official_splits(mini_dir):
    records, problems = index_tree(mini_dir)
    assert problems == []
    assert [(r.patch_id, r.split) for r in records] == [
        ("ROIs1970_fall_139_p839", "test"),
        ("ROIs2017_winter_112_p797", "train"),
    ]
    triplet = read_triplet(records[0].paths)
    assert triplet.geo.crs == "EPSG:32650" and triplet.s2.shape == (13, 256, 256)


def test_split_matches_scenes_exactly_not_by_substring():
    assert split_of("ROIs1158_spring", 106) == "test"
    assert split_of("ROIs1158_spring", 1) == "train"  # a substring match on "s1_1" would leak 106, 123, 140
    assert split_of("ROIs1158_spring", 10) == "train"
    assert split_of("ROIs1158_spring", 17) == "val" and split_of("ROIs1868_summer", 17) == "val"
    assert split_of("ROIs1970_fall", 17) == "train"
    assert split_of("ROIs2017_winter", 63) == "test" and split_of("ROIs2017_winter", 6) == "train"


@pytest.fixture
def tree(tmp_path):
    write_sen12mscr_tree(tmp_path, {"ROIs1158_spring": [1, 106], "ROIs2017_winter": [22]}, patches_per_scene=2, size=32)
    return tmp_path


def test_generated_tree_is_indexed_and_split(tree):
    records, problems = index_tree(tree)
    assert problems == [] and len(records) == 6
    assert {r.patch_id: r.split for r in records}["ROIs1158_spring_106_p1"] == "test"
    assert {r.split for r in records} == {"train", "test", "val"}


def test_missing_twin_is_reported_by_file_and_the_rest_indexed(tree):
    missing = patch_path(tree, "ROIs1158_spring", "s2", 1, 2)
    missing.unlink()
    records, problems = index_tree(tree)
    assert len(records) == 5
    assert problems == [f"ROIs1158_spring scene 1 patch 2: missing {missing}"]


def test_wrong_band_count_names_the_file(tree):
    records, _ = index_tree(tree)
    bad = records[0].paths["s2_cloudy"]
    geo = read_triplet(records[0].paths, size=None).geo
    write_geotiff(bad, np.ones((12, 32, 32), dtype=np.uint16), geo)
    with pytest.raises(RasterError, match=rf"{bad}: s2_cloudy needs 13 bands .* has 12"):
        read_triplet(records[0].paths, size=(32, 32))


def test_mismatched_grid_is_refused_naming_both_files(tree):
    records, _ = index_tree(tree)
    paths = records[0].paths
    with rasterio.open(paths["s2"]) as dataset:
        data = dataset.read()
    write_geotiff(paths["s2"], data, GeoReference("EPSG:32633", (10.0, 0.0, 0.0, 0.0, -10.0, 0.0)))
    with pytest.raises(RasterError, match=rf"{paths['s2']} is on a different grid from {paths['s1']}"):
        read_triplet(paths, size=(32, 32))
