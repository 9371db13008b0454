"""Synthetic scenes: seeded, with no preferred orientation, physically plausible, clouds over real ground."""

import numpy as np
import pytest

from equicr.data.synthetic import add_clouds, make_scene


def test_generator_is_seeded():
    a, b = make_scene(np.random.default_rng(7), (32, 32)), make_scene(np.random.default_rng(7), (32, 32))
    np.testing.assert_array_equal(a.s2_cloudy, b.s2_cloudy)
    np.testing.assert_array_equal(a.s1, b.s1)
    assert not np.array_equal(a.s2, make_scene(np.random.default_rng(8), (32, 32)).s2)


def test_generator_has_no_preferred_orientation():
    """Across many scenes, image gradients are as strong along rows as along columns."""
    rng = np.random.default_rng(0)
    along_rows, along_columns = [], []
    for _ in range(40):
        nir = make_scene(rng, (64, 64), cover=0.0).s2[7].astype(float)
        along_rows.append(np.abs(np.diff(nir, axis=0)).mean())
        along_columns.append(np.abs(np.diff(nir, axis=1)).mean())
    assert np.mean(along_rows) / np.mean(along_columns) == pytest.approx(1.0, abs=0.1)


def test_synthetic_physics_is_plausible():
    scene = make_scene(np.random.default_rng(3), (64, 64), cover=1.0)
    assert scene.s2_cloudy[1:4].mean() > 2 * scene.s2[1:4].mean()  # overcast: bright in the visible
    assert -35 < np.median(scene.s1) < 0  # backscatter in dB within Sentinel-1's range
    assert scene.s1.dtype == np.float32 and scene.s2.dtype == np.uint16


def test_clouds_over_given_ground_brighten_it_where_they_lie_and_are_seeded():
    clear = np.full((13, 64, 64), 0.05)
    a, b = add_clouds(np.random.default_rng(1), clear, 0.5), add_clouds(np.random.default_rng(1), clear, 0.5)
    np.testing.assert_array_equal(a, b)
    brighter = (a[1:4] > clear[1:4] + 0.05).all(axis=0).mean()
    assert 0.3 < brighter < 0.8  # about half the ground lies under cloud
