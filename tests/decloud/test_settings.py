"""Declouding's settings: one checked value, the halo filled from the model, the record without batching."""

import pytest

from equicr.decloud.settings import DecloudSettings
from equicr.errors import UserError
from equicr.postprocessing import DEFAULT_POSTPROCESSING


def test_the_halo_defaults_to_the_models_receptive_field_and_a_given_one_is_kept():
    assert DecloudSettings().for_model(34).halo == 34
    assert DecloudSettings(halo=3).for_model(34).halo == 3


def test_the_record_is_what_decides_the_output():
    record = DecloudSettings(tile_size=64, postprocessing="keep-clear", batch_size=4).for_model(6).record()
    assert record == {"tile_size": 64, "halo": 6, "postprocessing": "keep-clear", "precision": "auto",
                      "cloud_resolution_m": 60}  # fmt: skip
    assert DecloudSettings().postprocessing == DEFAULT_POSTPROCESSING


@pytest.mark.parametrize(
    ("values", "message"),
    [({"tile_size": 0}, "tile_size and batch_size"), ({"halo": -1}, "halo must not be negative"),
     ({"precision": "fp8"}, "precision must be one of"), ({"cloud_resolution_m": 30}, "runs at"),
     ({"postprocessing": "soft"}, "post-processing must be one of")],
)  # fmt: skip
def test_settings_without_a_meaning_are_refused_by_name(values, message):
    with pytest.raises(UserError, match=message):
        DecloudSettings(**values)
