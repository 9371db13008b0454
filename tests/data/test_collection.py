"""Zarr collections: schema, validation errors, and xarray access."""

import numpy as np
import pytest
import xarray as xr
import zarr

from equicr.data.collection import CollectionError, create_patches, open_collection, validate_patches
from equicr.data.rasters import GeoReference
from equicr.data.scenes import scene_names
from equicr.ingest.scenes import create_scenes, write_scene

GEO = GeoReference("EPSG:32632", (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0))


def test_store_that_is_not_a_collection_is_refused(tmp_path):
    with pytest.raises(CollectionError, match="is not a Zarr group"):
        open_collection(tmp_path / "nothing.zarr", "patches")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(CollectionError, match="not an EquiCR collection"):
        open_collection(tmp_path / "plain.zarr", "patches")


def test_wrong_kind_and_version_are_refused(tmp_path):
    create_scenes(tmp_path / "scenes.zarr")
    with pytest.raises(CollectionError, match="is a 'scenes' collection, expected 'patches'"):
        open_collection(tmp_path / "scenes.zarr", "patches")
    group = zarr.open_group(str(tmp_path / "scenes.zarr"), mode="r+")
    group.attrs["equicr_collection"] = {"kind": "scenes", "version": 99}
    with pytest.raises(CollectionError, match="schema version 99"):
        open_collection(tmp_path / "scenes.zarr", "scenes")


def test_wrong_array_shape_is_refused(tmp_path):
    group = create_patches(tmp_path / "p.zarr", ["a", "b"], patch_size=16)
    validate_patches(group)
    del group["s1"]
    group.create_array("s1", shape=(2, 3, 16, 16), dtype="float32")
    with pytest.raises(CollectionError, match=r"s1: expected shape \(2, 2, 16, 16\) float32"):
        validate_patches(open_collection(tmp_path / "p.zarr", "patches"), tmp_path / "p.zarr")


def test_existing_collection_is_never_overwritten(tmp_path):
    create_patches(tmp_path / "p.zarr", ["a"], patch_size=16)
    with pytest.raises(CollectionError, match="already exists"):
        create_patches(tmp_path / "p.zarr", ["a"], patch_size=16)


def test_scenes_of_any_size_open_in_xarray(tmp_path):
    collection = create_scenes(tmp_path / "s.zarr")
    rng = np.random.default_rng(0)
    write_scene(
        collection, "odd", rng.normal(-12, 3, (2, 37, 53)).astype("float32"), np.ones((13, 37, 53), "uint16"), GEO
    )
    assert scene_names(collection) == ["odd"]
    scene = xr.open_zarr(str(tmp_path / "s.zarr"), group="scenes/odd", consolidated=False)
    assert scene["s2_cloudy"].dims == ("s2_band", "y", "x") and scene["s2_cloudy"].shape == (13, 37, 53)
    assert scene.attrs["crs"] == "EPSG:32632" and scene.attrs["transform"] == list(GEO.transform)


def test_scene_on_two_grids_is_refused(tmp_path):
    collection = create_scenes(tmp_path / "s.zarr")
    with pytest.raises(CollectionError, match=r"s1 is \(10, 10\) px but s2_cloudy is \(10, 11\) px"):
        write_scene(collection, "bad", np.ones((2, 10, 10), "float32"), np.ones((13, 10, 11), "uint16"), GEO)


def test_a_damaged_patch_chunk_is_an_error_naming_array_and_patch(tmp_path):
    """Pixel chunks carry a checksum: a flipped byte fails to decode instead of being read as wrong pixels."""
    from equicr.data.collection import DamagedChunkError
    from equicr.data.dataset import PatchDataset
    from equicr.ingest.simulated import write_synthetic_patches

    path = write_synthetic_patches(tmp_path / "patches.zarr", count=5, size=16, seed=2, split_fractions=(1.0, 0.0))
    chunk = tmp_path / "patches.zarr" / "s2_cloudy" / "c" / "3" / "0" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    dataset = PatchDataset(path, "train")
    for item in (0, 1, 2, 4):
        dataset[item]  # the others read as before
    with pytest.raises(
        DamagedChunkError, match=r"patches.zarr/s2_cloudy.*patch 3 \(synthetic_2_p3\).*cannot be decoded"
    ):
        dataset[3]


def test_a_missing_patch_chunk_is_an_error_not_zeros(tmp_path):
    """A target chunk lost after ingest (an interrupted copy) must not be read as an all-zero target."""
    from equicr.data.collection import MissingChunkError
    from equicr.data.dataset import PatchDataset
    from equicr.ingest.simulated import write_synthetic_patches

    path = write_synthetic_patches(tmp_path / "patches.zarr", count=4, size=16, seed=2, split_fractions=(1.0, 0.0))
    (tmp_path / "patches.zarr" / "s2" / "c" / "2" / "0" / "0" / "0").unlink()
    dataset = PatchDataset(path, "train", input_mode="opt")
    for item in (0, 1, 3):
        assert dataset[item]["target"].max() > 0
    with pytest.raises(MissingChunkError, match=r"patches.zarr/s2: 1 chunk\(s\) holding patch 2 \(synthetic_2_p2\)"):
        dataset[2]


def test_an_all_fill_chunk_is_stored_and_reads_as_no_data(tmp_path):
    """A chunk of pure no-data is written, so it reads back as no-data, not as a missing chunk."""
    from equicr.data.collection import read_pixels
    from equicr.data.scenes import SCENE_CHUNK, VALID_ARRAYS

    collection = create_scenes(tmp_path / "s.zarr")
    s2 = np.zeros((13, 8, SCENE_CHUNK + 40), "uint16")  # the second chunk lies outside the swath
    s2[:, :, :SCENE_CHUNK] = 500
    write_scene(collection, "edge", np.full((2, *s2.shape[1:]), -12.0, "float32"), s2, GEO)
    assert (tmp_path / "s.zarr" / "scenes" / "edge" / "s2_cloudy" / "c" / "0" / "0" / "1").is_file()
    scene = open_collection(tmp_path / "s.zarr", "scenes")["scenes"]["edge"]
    edge = (slice(None), slice(SCENE_CHUNK, None))
    np.testing.assert_array_equal(read_pixels(scene["s2_cloudy"], (slice(None), *edge), "the edge"), 0)
    assert not read_pixels(scene[VALID_ARRAYS["s2_cloudy"]], edge, "the edge").any()
