"""A torch Dataset over a patches collection: one dict per sample, in network units.

Samples are ``{"inputs": (C, H, W), "target": (13, H, W), "cloud_cover": float, "patch_id": str,
"index": int}`` with the channels of the chosen input mode (optical first, then SAR). Only patches
marked complete are used. Training subsets (the paper's Table II: 100, 1000, all) are nested: a
seeded permutation of the split is drawn once and each subset is its prefix, so the 100-patch
subset lies inside the 1000-patch one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from equicr.bands import InputMode, has_optical_input, has_sar_input
from equicr.data.collection import open_collection, read_pixels, validate_patches
from equicr.equivariance import transform_grid
from equicr.errors import UserError
from equicr.scaling import network_inputs, optical_dn_to_network


def split_indices(collection_path: str | Path, split: str, subset_size: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of the complete patches of ``split``; with ``subset_size``, a nested seeded subset of them."""
    group = open_collection(collection_path, "patches")
    validate_patches(group, collection_path)
    splits = group["split"][:]
    complete = group["complete"][:]
    indices = np.flatnonzero((splits == split) & complete)
    if subset_size is None:
        return indices
    if subset_size > len(indices):
        raise UserError(
            f"{collection_path}: asked for {subset_size} {split} patches, the collection has {len(indices)}"
        )
    permutation = np.random.default_rng(seed).permutation(len(indices))
    return np.sort(indices[permutation[:subset_size]])


class PatchDataset(Dataset):
    """Samples of one split of a patches collection, optionally a nested subset, optionally augmented.

    Args:
        collection_path: the patches collection.
        split: "train", "val" or "test".
        input_mode: which bands feed the network ("sar+opt", "opt", "sar").
        subset_size: use only this many patches (nested across sizes for one ``seed``).
        seed: seed of the subset permutation.
        augment: apply a random rotation by a multiple of 90 degrees and a random flip per sample.
    """

    def __init__(
        self,
        collection_path: str | Path,
        split: str = "train",
        input_mode: InputMode = "sar+opt",
        subset_size: int | None = None,
        seed: int = 0,
        augment: bool = False,
    ) -> None:
        self.collection_path = str(collection_path)
        self.indices = split_indices(collection_path, split, subset_size, seed)
        self.input_mode = input_mode
        self.augment = augment
        group = open_collection(collection_path, "patches")
        self.patch_ids = group["patch_id"][:]
        self.cloud_cover = group["cloud_cover"][:]
        self._group = None  # opened lazily in each DataLoader worker

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict:
        if self._group is None:
            self._group = open_collection(self.collection_path, "patches")
        index = int(self.indices[item])
        where = f"patch {index} ({self.patch_ids[index]})"
        s1 = read_pixels(self._group["s1"], (index,), where) if has_sar_input(self.input_mode) else None
        s2_cloudy = (
            read_pixels(self._group["s2_cloudy"], (index,), where) if has_optical_input(self.input_mode) else None
        )
        s2 = read_pixels(self._group["s2"], (index,), where)
        inputs = network_inputs(s1, s2_cloudy, self.input_mode)
        target = optical_dn_to_network(s2)
        inputs_t, target_t = torch.from_numpy(inputs), torch.from_numpy(target)
        if self.augment:
            quarter_turns = int(torch.randint(0, 4, ()))
            flip = bool(torch.randint(0, 2, ()))
            inputs_t, target_t = (transform_grid(t, quarter_turns, flip).contiguous() for t in (inputs_t, target_t))
        return {
            "inputs": inputs_t,
            "target": target_t,
            "cloud_cover": float(self.cloud_cover[index]),
            "patch_id": str(self.patch_ids[index]),
            "index": index,
        }
