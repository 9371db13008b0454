"""The Virginia L1C product: 13 bands on the 10 m grid, land patches, and a training area apart from the unseen one."""

import numpy as np
import pytest
import rasterio

from equicr.bands import S2_BANDS
from equicr.data.virginia import (
    GAP_ROWS,
    TRAINING_SCENE,
    check_apart,
    virginia_bands,
    virginia_geotiffs,
    virginia_patches,
)
from equicr.errors import UserError
from tests.fixtures.paths import SHARED_DATA_DIR


def test_the_bands_come_onto_the_10_m_grid_and_the_10_m_bands_are_untouched():
    bands = virginia_bands(SHARED_DATA_DIR)
    assert bands.shape == (13, 1947, 1933) and bands.dtype == np.uint16
    assert (bands > 0).mean() > 0.99  # DN 0 only where the 60 m grid ends short of the 10 m one, and dark sea
    with rasterio.open(SHARED_DATA_DIR / "s2-l1c-virginia" / "T18SVG_20160112_B08.tif") as b08:
        np.testing.assert_array_equal(bands[S2_BANDS.index("B08")], b08.read(1))


def test_training_and_unseen_land_never_touch_and_the_unseen_area_is_never_a_background(tmp_path):
    training, unseen = virginia_patches(SHARED_DATA_DIR, "training"), virginia_patches(SHARED_DATA_DIR, "unseen")
    assert len(training) >= 10 and len(unseen) >= 5
    check_apart(training, unseen)
    last_training_row = max(p.row + p.dn.shape[1] for p in training)
    assert min(p.row for p in unseen) - last_training_row >= GAP_ROWS
    backgrounds = virginia_geotiffs(SHARED_DATA_DIR, tmp_path, "training")
    assert {b.scene for b in backgrounds} == {TRAINING_SCENE} and len(backgrounds) == len(training)
    with rasterio.open(backgrounds[0].s2) as written:  # georeferenced where the patch lies in the product
        assert written.count == 13 and written.crs.to_epsg() == 32618
        np.testing.assert_array_equal(written.read(), training[0].dn)
    overlapping = [p for p in training]
    overlapping[-1] = unseen[0]
    with pytest.raises(UserError, match="Virginia training patches reach row"):
        check_apart(overlapping, unseen)
