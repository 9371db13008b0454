"""The decloud output's record: it never says complete for arrays that are being replaced."""

import pytest

from equicr.data.collection import open_collection
from equicr.decloud import output
from equicr.decloud.output import OUTPUT_ARRAY, DecloudError, is_complete, mark_scene_complete, prepare_output
from equicr.decloud.settings import DecloudSettings
from equicr.ingest.simulated import write_synthetic_scenes

MODEL = {"model": "a.pt", "model_sha256": "a" * 64, "model_config": None}


def test_an_overwrite_killed_midway_never_leaves_a_record_saying_complete(tmp_path, monkeypatch):
    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(40, 40)], seed=1)
    scene = open_collection(path, "scenes", mode="r+")["scenes"]["scene_0"]
    prepare_output(scene, "scene_0", MODEL, DecloudSettings(tile_size=16, halo=2), overwrite=False)
    mark_scene_complete(scene)
    assert is_complete(scene)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # a kill after the old arrays are gone, before the new ones exist

    monkeypatch.setattr(output.CompletionMarkers, "create", killed)
    with pytest.raises(KeyboardInterrupt):
        another = {**MODEL, "model": "b.pt", "model_sha256": "b" * 64}
        prepare_output(scene, "scene_0", another, DecloudSettings(16, 2), overwrite=True)
    reopened = open_collection(path, "scenes")["scenes"]["scene_0"]
    assert not is_complete(reopened) and OUTPUT_ARRAY in reopened  # the new output, unfinished, not the old one


def test_the_same_file_under_another_name_resumes_and_another_file_needs_overwrite(tmp_path):
    path = write_synthetic_scenes(tmp_path / "scenes.zarr", [(40, 40)], seed=1)
    scene = open_collection(path, "scenes", mode="r+")["scenes"]["scene_0"]
    settings = DecloudSettings(tile_size=16, halo=2)
    prepare_output(scene, "scene_0", MODEL, settings, overwrite=False)
    prepare_output(scene, "scene_0", {**MODEL, "model": "/abs/elsewhere/a.pt"}, settings, overwrite=False)  # resumes
    with pytest.raises(DecloudError, match="pass --overwrite"):
        prepare_output(scene, "scene_0", {**MODEL, "model_sha256": "c" * 64}, settings, overwrite=False)
