"""s2cloudless cloud cover on real and synthetic data."""

import numpy as np
import pytest
import rasterio

from equicr.data.clouds import detect_clouds
from equicr.data.rasters import read_raster
from equicr.data.synthetic import make_scene


@pytest.mark.slow
def test_clouds_found_in_real_cloudy_patches_and_not_in_clear_ones(real_triplet_paths):
    for paths in real_triplet_paths:
        cloudy = detect_clouds(read_raster(paths["s2_cloudy"], "s2_cloudy").data)
        clear = detect_clouds(read_raster(paths["s2"], "s2").data)
        with rasterio.open(paths["s1"].parents[1] / "cloudmask" / paths["s1"].name) as dataset:
            reference = dataset.read(1).astype(bool)
        assert clear.cover[0] < 0.06, paths["s2"].name
        if reference.mean() > 0.5:  # mostly cloudy by the redistributor's rough mask
            assert cloudy.cover[0] > 0.7, paths["s2_cloudy"].name
            assert (cloudy.mask[0] == reference).mean() > 0.8
        if reference.mean() < 0.01:
            assert cloudy.cover[0] < 0.05, paths["s2_cloudy"].name
        assert (
            cloudy.probability.shape == (1, 256, 256) and 0 <= cloudy.probability.min() <= cloudy.probability.max() <= 1
        )


def test_real_thick_cloud_patch(real_triplet):
    assert detect_clouds(real_triplet["s2_cloudy"]).cover[0] > 0.9  # ROIs1970_fall p839: thick cloud
    assert detect_clouds(real_triplet["s2"]).cover[0] < 0.01


def test_wrong_band_count_is_refused():
    with pytest.raises(ValueError, match=r"all 13 Sentinel-2 bands .* got shape \(4, 8, 8\)"):
        detect_clouds(np.zeros((4, 8, 8), dtype=np.uint16))


def test_measured_cover_tracks_the_generators_intended_cover():
    rng = np.random.default_rng(1)
    scenes = [make_scene(rng, (96, 96)) for _ in range(24)]
    intended = np.array([s.intended_cover for s in scenes])
    measured = detect_clouds(np.stack([s.s2_cloudy for s in scenes])).cover
    assert np.corrcoef(intended, measured)[0, 1] > 0.95
    assert np.abs(intended - measured).mean() < 0.1
    assert detect_clouds(np.stack([s.s2 for s in scenes])).cover.max() < 0.02  # the clear images are clear


@pytest.mark.slow
@pytest.mark.parametrize("resolution, min_iou", [(60, 0.8), (160, 0.6)])
def test_coarse_detection_agrees_with_10_m_on_real_cloudy_patches(real_triplet_paths, resolution, min_iou):
    """Scenes run s2cloudless at 60 m (or 160 m) and upsample: the mask must stay close to the 10 m one.

    Pooled over the real triplets' cloudy images (bench/cloud_resolution.py measures all real images).
    """
    images = np.stack([read_raster(paths["s2_cloudy"], "s2_cloudy").data for paths in real_triplet_paths])
    fine, coarse = detect_clouds(images), detect_clouds(images, resolution)
    assert coarse.probability.shape == fine.probability.shape and coarse.mask.shape == fine.mask.shape
    iou = (fine.mask & coarse.mask).sum() / (fine.mask | coarse.mask).sum()
    assert iou > min_iou
    assert np.abs(fine.cover - coarse.cover).max() < 0.15


def test_an_unsupported_resolution_is_refused():
    with pytest.raises(ValueError, match="not 30 m"):
        detect_clouds(np.ones((13, 8, 8), dtype=np.uint16), 30)
