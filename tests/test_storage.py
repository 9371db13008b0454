"""Local paths and URIs spelled one way, outputs that appear only complete, and strict JSON."""

import json
import math

import pytest

from equicr.storage import atomic_output, is_remote, join, json_text, local_path, normalise, write_json


def test_one_spelling_per_location(tmp_path):
    assert normalise(f"file://{tmp_path}/a.zarr") == f"{tmp_path}/a.zarr" == normalise(tmp_path / "a.zarr")
    assert normalise("s3://bucket/a.zarr") == "s3://bucket/a.zarr"
    assert not is_remote(f"file://{tmp_path}") and is_remote("s3://bucket/x") and not is_remote(tmp_path)
    assert join("s3://bucket/runs/", "run", "model.pt") == "s3://bucket/runs/run/model.pt"
    assert join(f"file://{tmp_path}", "run", "model.pt") == str(tmp_path / "run" / "model.pt")
    assert local_path(f"file://{tmp_path}/x") == tmp_path / "x"


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "deep" / "report.json"
    with atomic_output(target) as temporary:
        temporary.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]  # no temporary left behind


def test_a_folder_appears_whole(tmp_path):
    target = tmp_path / "collection.zarr"
    with atomic_output(target) as temporary:
        temporary.mkdir()
        (temporary / "chunk").write_text("x")
        assert not target.exists()  # invisible until the block ends
    assert (target / "chunk").read_text() == "x"


def test_json_is_strict(tmp_path):
    value = {"bins": [{"psnr": math.nan}, {"psnr": 30.0}], "inf": math.inf, "ok": [1, "a"]}
    text = json_text(value)
    assert json.loads(text) == {"bins": [{"psnr": None}, {"psnr": 30.0}], "inf": None, "ok": [1, "a"]}
    write_json(tmp_path / "v.json", value)
    assert json.loads((tmp_path / "v.json").read_text())["inf"] is None


def test_remote_outputs_arrive_in_one_upload(s3_bucket):
    import fsspec

    location = f"{s3_bucket}/storage-test/summary.json"
    with pytest.raises(RuntimeError), atomic_output(location) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash")
    filesystem = fsspec.filesystem("s3")
    assert not filesystem.exists(location)
    write_json(location, {"a": 1})
    assert json.loads(filesystem.cat(location)) == {"a": 1}
    assert json.loads(local_path(location).read_text()) == {"a": 1}
