import matplotlib.image
import numpy as np

from equicr.plots import sar_false_colour, save_panels, true_colour


def test_true_colour_takes_red_green_blue_bands():
    dn = np.zeros((13, 4, 5), dtype=np.uint16)
    dn[3], dn[2], dn[1] = 3000, 1500, 0  # B04 red, B03 green, B02 blue
    rgb = true_colour(dn)
    assert rgb.shape == (4, 5, 3)
    np.testing.assert_allclose(rgb[0, 0], [1.0, 0.5, 0.0])


def test_panels_png_has_one_row_per_sample(tmp_path):
    rows = [{"a": np.zeros((8, 8, 3)), "b": sar_false_colour(np.full((2, 8, 8), -12.5))} for _ in range(3)]
    path = save_panels(tmp_path / "p.png", rows, ["one", "two", "three"])
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 2.5 * image.shape[1] / 2  # three rows of two square panels: taller than wide
