"""Real SEN12MS-CR patches end to end: read with rasterio, scale, run a small model, score."""

import numpy as np
import pytest
import torch

from equicr.data.rasters import RasterError, read_raster
from equicr.data.sen12mscr import index_tree
from equicr.demo import run_demo
from equicr.equivariance import EQUIVARIANCE_TOLERANCE
from equicr.metrics import image_metrics
from equicr.models import ModelConfig, build_model
from equicr.scaling import network_to_reflectance, optical_dn_to_network, optical_dn_to_reflectance, sar_db_to_network


def test_real_patches_are_read_with_their_georeference(mini_dir):
    paths = index_tree(mini_dir)[0][0].paths
    rasters = {kind: read_raster(path, kind, size=(256, 256)) for kind, path in paths.items()}
    assert rasters["s1"].data.dtype == np.float32 and rasters["s1"].data.shape == (2, 256, 256)
    assert rasters["s2"].data.dtype == np.uint16 and rasters["s2"].data.shape == (13, 256, 256)
    assert rasters["s1"].geo.crs.startswith("EPSG:326")  # UTM north
    assert len({r.geo for r in rasters.values()}) == 1  # one grid for the three files


def test_wrong_role_names_the_file_and_band_count(mini_dir):
    s1_path = index_tree(mini_dir)[0][0].paths["s1"]
    with pytest.raises(RasterError, match=rf"{s1_path.name}: s2 needs 13 bands .* the file has 2"):
        read_raster(s1_path, "s2")
    with pytest.raises(RasterError, match="needs 128x128 px, the file is 256x256"):
        read_raster(s1_path, "s1", size=(128, 128))


@pytest.mark.parametrize("architecture", ["equicr", "dsen2cr"])
def test_small_model_on_real_patches_gives_finite_metrics(real_triplet_paths, architecture):
    batch = [{kind: read_raster(path, kind).data for kind, path in paths.items()} for paths in real_triplet_paths[:3]]
    inputs = torch.from_numpy(
        np.stack([np.concatenate([optical_dn_to_network(t["s2_cloudy"]), sar_db_to_network(t["s1"])]) for t in batch])
    )
    target = torch.from_numpy(np.stack([optical_dn_to_reflectance(t["s2"]) for t in batch]))
    model = build_model(ModelConfig(architecture, width=2, num_blocks=1), identity_start=False).eval()
    with torch.no_grad():
        prediction = network_to_reflectance(model(inputs))
    metrics = image_metrics(prediction, target)
    for name, values in metrics.items():
        assert values.shape == (3,) and torch.isfinite(values).all(), name


def test_demo_reports_equicr_equivariant_and_dsen2cr_not(mini_dir, capsys):
    results = run_demo(mini_dir, width=2, num_blocks=1)
    assert results["EquiCR"]["equivariance_error"] < EQUIVARIANCE_TOLERANCE
    assert results["DSen2-CR"]["equivariance_error"] > 1e-2
    assert np.isfinite([results[name]["psnr"] for name in ("baseline", "EquiCR", "DSen2-CR")]).all()
    assert "NOT equivariant" in capsys.readouterr().out


def test_demo_runs_from_the_package_alone_on_a_shipped_real_patch(capsys):
    results = run_demo(None, width=2, num_blocks=1)
    assert "shipped patch" in capsys.readouterr().out
    assert results["EquiCR"]["equivariance_error"] < EQUIVARIANCE_TOLERANCE
    assert 5 < results["baseline"]["psnr"] < 40  # the synthetic clouds do cover the real ground
    assert np.isfinite(results["shipped"]["psnr"])
