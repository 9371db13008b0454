"""Completion markers: a unit counts only once marked, and the marker is one API for every writer."""

import numpy as np
import zarr

from equicr.data.completion import CompletionMarkers


def test_units_are_unfinished_until_marked_and_each_marker_is_its_own_chunk(tmp_path):
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    markers = CompletionMarkers.create(group, "done", (2, 3), ["tile_row", "tile_col"])
    assert not markers.completed().any() and not markers.is_completed((1, 2))
    markers.mark_completed((1, 2))
    reopened = CompletionMarkers(zarr.open_group(str(tmp_path / "g.zarr"), mode="r"), "done")
    assert reopened.is_completed((1, 2)) and not reopened.all_completed()
    assert group["done"].chunks == (1, 1)  # writers of different units never share a chunk
    np.testing.assert_array_equal(reopened.completed(), [[False, False, False], [False, False, True]])
    markers.mark_completed(np.s_[:, :])
    assert reopened.all_completed()


def test_patches_tiles_and_ingest_windows_share_it(tmp_path):
    from equicr.data.collection import create_patches, patch_markers
    from equicr.data.rasters import GeoReference
    from equicr.data.scenes import ingest_markers
    from equicr.ingest.scenes import create_scene, create_scenes

    patches = create_patches(tmp_path / "p.zarr", ["a", "b", "c"], patch_size=16)
    assert isinstance(patch_markers(patches), CompletionMarkers) and patch_markers(patches).completed().shape == (3,)
    scene = create_scene(create_scenes(tmp_path / "s.zarr"), "x", 40, 30, GeoReference(None, (1, 0, 0, 0, -1, 0)))
    assert ingest_markers(scene).completed().shape == (1, 1) and not ingest_markers(scene).all_completed()
