"""The patch Dataset over a collection: splits, nested subsets, input modes, augmentation, completeness."""

import numpy as np
import pytest
import torch

from equicr.data.dataset import PatchDataset, split_indices
from equicr.equivariance import transform_grid
from equicr.ingest.simulated import write_synthetic_patches


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return write_synthetic_patches(tmp_path_factory.mktemp("synthetic") / "patches.zarr", count=30, size=32, seed=5)


def test_subsets_are_nested_and_seeded(collection):
    train = split_indices(collection, "train")
    assert len(train) == 24 and len(split_indices(collection, "val")) == 3
    small, large = split_indices(collection, "train", 5, seed=1), split_indices(collection, "train", 12, seed=1)
    assert set(small) <= set(large) <= set(train)
    assert not np.array_equal(small, split_indices(collection, "train", 5, seed=2))
    with pytest.raises(ValueError, match="asked for 100 train patches, the collection has 24"):
        split_indices(collection, "train", 100)


@pytest.mark.parametrize(("input_mode", "channels"), [("sar+opt", 15), ("opt", 13), ("sar", 2)])
def test_samples_carry_the_input_mode_and_cloud_cover(collection, input_mode, channels):
    sample = PatchDataset(collection, "val", input_mode=input_mode)[0]
    assert sample["inputs"].shape == (channels, 32, 32) and sample["target"].shape == (13, 32, 32)
    assert 0.0 <= sample["cloud_cover"] <= 1.0 and sample["patch_id"].startswith("synthetic_5_p")
    if input_mode != "sar":
        assert not torch.equal(sample["inputs"][:13], sample["target"])  # cloudy input, clear target


def test_augmentation_transforms_inputs_and_target_together(collection):
    plain, augmented = PatchDataset(collection, "train"), PatchDataset(collection, "train", augment=True)
    torch.manual_seed(0)
    seen = set()
    for _ in range(12):
        sample, reference = augmented[0], plain[0]
        matches = [
            (k, f) for k in range(4) for f in (False, True)
            if torch.equal(sample["inputs"], transform_grid(reference["inputs"], k, f))
            and torch.equal(sample["target"], transform_grid(reference["target"], k, f))
        ]  # fmt: skip
        assert matches, "augmented sample is not a rotation/flip of the original"
        seen.add(matches[0])
    assert len(seen) > 3


def test_incomplete_patches_are_not_served(collection, tmp_path):
    import shutil

    import zarr

    copy = tmp_path / "copy.zarr"
    shutil.copytree(collection, copy)
    group = zarr.open_group(str(copy), mode="r+")
    group["complete"][0] = False
    assert 0 not in PatchDataset(copy, "train").indices and len(PatchDataset(copy, "train")) == 23
