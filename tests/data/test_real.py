"""The real data sorted into test bench and training ground: split by scene, checked."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from equicr.data.real import ROME_SCENE, _read_tsv, load_real_data, scenes
from tests.fixtures.paths import SHARED_DATA_DIR


@pytest.fixture(scope="module")
def real(mini_dir):
    return load_real_data(SHARED_DATA_DIR)


def test_the_test_bench_holds_every_fair_real_pair_and_triplet(real):
    assert len(real.real_cloud_pairs) == 9 + 16 and len(real.do_no_harm_pairs) == 19 and len(real.triplets) == 12
    for patch in real.test_bench:
        assert patch.s2.is_file() and patch.s2_cloudy is not None and patch.s2_cloudy.is_file(), patch
    assert all(patch.s1 is not None and patch.s1.is_file() for patch in real.triplets)
    assert len({patch.name for patch in real.test_bench}) == len(real.test_bench)


def test_no_scene_of_the_test_bench_gives_a_training_background(real):
    assert real.backgrounds, "some clear real ground remains for training"
    assert not scenes(real.backgrounds) & scenes(real.test_bench)
    assert ROME_SCENE in scenes(real.real_cloud_pairs) and ROME_SCENE not in scenes(real.backgrounds)
    test_files = {path for patch in real.test_bench for path in (patch.s2, patch.s2_cloudy, patch.s1)}
    assert not {patch.s2 for patch in real.backgrounds} & test_files
    hazy_targets = {SHARED_DATA_DIR / "real-pairs" / row["s2"] for row in _read_tsv(
        SHARED_DATA_DIR / "real-pairs" / "PAIRS.tsv") if row["flag"] == "hazy_target"}  # fmt: skip
    assert len(hazy_targets) == 16 and not hazy_targets & {patch.s2 for patch in real.backgrounds}


def test_the_disjointness_check_fails_on_a_leaked_scene(real):
    leaked = dataclasses.replace(real, backgrounds=[*real.backgrounds, real.real_cloud_pairs[0]])
    with pytest.raises(ValueError, match=real.real_cloud_pairs[0].scene):
        leaked.check_disjoint()


@pytest.mark.slow
def test_the_test_bench_collections_hold_the_real_pixels_and_resume(real, real_test_bench):
    from equicr.data.collection import HAS_SAR_ATTRIBUTE, open_collection
    from equicr.data.rasters import read_raster
    from equicr.data.real import DO_NO_HARM, REAL_CLOUDS, TRIPLETS
    from equicr.ingest.geotiffs import write_test_bench

    locations = real_test_bench
    expected = {REAL_CLOUDS: real.real_cloud_pairs, TRIPLETS: real.triplets, DO_NO_HARM: real.do_no_harm_pairs}
    for name, patches in expected.items():
        group = open_collection(locations[name], "patches")
        assert list(group["patch_id"][:]) == [p.name for p in patches] and group["complete"][:].all()
        assert set(group["split"][:]) == {"test"}
        assert group.attrs.get(HAS_SAR_ATTRIBUTE, True) == (name == TRIPLETS)
        first = patches[0]
        assert np.array_equal(group["s2_cloudy"][0], read_raster(first.s2_cloudy, "s2_cloudy").data)
        assert np.array_equal(group["s2"][0], read_raster(first.s2, "s2").data)
    rome = [i for i, p in enumerate(real.real_cloud_pairs) if p.scene == ROME_SCENE]
    assert len(rome) == 16 and open_collection(locations[REAL_CLOUDS], "patches")["crs"][rome[0]] == "EPSG:4326"
    out = Path(locations[REAL_CLOUDS]).parent
    assert write_test_bench(real, out) == locations  # a rerun finds everything complete


@pytest.mark.slow
def test_a_sar_model_is_refused_on_optical_only_pairs(real, tmp_path):
    from equicr.checkpoint import save_checkpoint
    from equicr.evaluation.scoring import evaluate_split
    from equicr.ingest.geotiffs import write_test_bench
    from equicr.models import ModelConfig, build_model

    subset = dataclasses.replace(real, real_cloud_pairs=real.real_cloud_pairs[:2], triplets=real.triplets[:1],
                                 do_no_harm_pairs=real.do_no_harm_pairs[:1])  # fmt: skip
    locations = write_test_bench(subset, tmp_path / "bench")
    models = {}
    for mode in ("sar+opt", "opt"):
        config = ModelConfig("dsen2cr", width=4, num_blocks=1, input_mode=mode)
        models[mode] = save_checkpoint(tmp_path / f"{mode}.pt", build_model(config), config)
    with pytest.raises(ValueError, match="holds optical-only pairs .* needs sar\\+opt input"):
        evaluate_split(models["sar+opt"], locations["real-clouds"], progress=False)
    assert len(evaluate_split(models["opt"], locations["real-clouds"], progress=False)) == 2
    assert len(evaluate_split(models["sar+opt"], locations["triplets"], progress=False)) == 1


def test_the_shipped_backgrounds_are_real_training_ground_not_test_bench(real):
    from equicr.data.real import shipped_backgrounds

    shipped = shipped_backgrounds()
    assert len(shipped) == 5 and sum(p.s1 is not None for p in shipped) == 3
    assert not scenes(shipped) & scenes(real.test_bench)
    originals = {p.name: p for p in real.backgrounds}
    for patch in shipped:  # byte-identical copies of training-ground patches
        assert patch.s2.read_bytes() == originals[patch.name].s2.read_bytes()
        if patch.s1 is not None:
            assert patch.s1.read_bytes() == originals[patch.name].s1.read_bytes()
