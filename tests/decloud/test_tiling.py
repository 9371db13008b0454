"""Work units: output tiles aligned with the output chunks, each read with a halo clipped to the scene."""

import numpy as np

from equicr.decloud.tiling import plan_units


def test_units_tile_the_scene_exactly_with_clipped_halos():
    units = plan_units("s", 70, 93, 32, 6)
    covered = np.zeros((70, 93), dtype=int)
    for unit in units:
        covered[unit.core.slices] += 1
        assert unit.core.row_start % 32 == 0 and unit.core.col_start % 32 == 0  # aligned with output chunks
        assert unit.read.row_start == max(unit.core.row_start - 6, 0) and unit.read.col_stop == min(
            unit.core.col_stop + 6, 93
        )
    assert (covered == 1).all() and len(units) == 9
