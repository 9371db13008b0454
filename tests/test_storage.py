"""Local paths and URIs spelled one way, outputs that appear only complete, and strict JSON."""

import json
import math

import pytest

from equicr.storage import (
    ContentChangedError,
    atomic_output,
    file_sha256,
    is_remote,
    join,
    json_text,
    local_path,
    normalise,
    write_json,
)


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


def test_concurrent_readers_of_a_remote_file_see_it_whole_and_a_planted_link_is_replaced(s3_bucket, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    import fsspec

    from equicr import storage

    payload = bytes(range(256)) * 40_000  # 10 MB: large enough for a reader to catch a partial copy
    location = f"{s3_bucket}/storage-test/model.pt"
    with fsspec.open(location, "wb") as stream:
        stream.write(payload)
    first = storage.local_path(location)
    assert oct(storage.private_cache_dir().stat().st_mode & 0o777) == "0o700"
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    first.unlink()
    first.symlink_to(victim)  # a link planted where the next download lands

    def read(_):
        return storage.local_path(location).read_bytes() == payload

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(read, range(24)))
    assert victim.read_bytes() == b"do not touch" and not first.is_symlink()
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_cache_folder_others_can_write_is_refused(tmp_path, monkeypatch):
    from equicr import storage

    shared = tmp_path / "shared-cache"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setattr(storage, "CACHE_DIR", shared)
    with pytest.raises(PermissionError, match="must be a folder of this user's alone"):
        storage.private_cache_dir()


def test_credentials_never_reach_records():
    from equicr.deploy.predictors import ModelReference
    from equicr.storage import redact

    assert redact("s3://KEY:SECRET@bucket/runs/m.onnx") == "s3://bucket/runs/m.onnx"
    assert redact("s3://bucket/a@b/m.onnx") == "s3://bucket/a@b/m.onnx"  # an @ in the path is not userinfo
    assert redact("/local/path@x/m.pt") == "/local/path@x/m.pt"
    record = ModelReference("s3://KEY:SECRET@bucket/m.onnx", "onnx", "0" * 64).record()
    assert "SECRET" not in json.dumps(record) and record["model"] == "s3://bucket/m.onnx"


def test_a_file_with_a_recorded_hash_is_downloaded_once_per_node_and_checked(s3_bucket, tmp_path, monkeypatch):
    import fsspec
    import pyarrow.fs

    monkeypatch.setenv("EQUICR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("equicr.storage.CACHE_DIR", tmp_path / "cache")
    location = f"{s3_bucket}/hashed/model.pt"
    with fsspec.open(location, "wb") as stream:
        stream.write(b"weights, first version")
    downloads = []
    copy_files = pyarrow.fs.copy_files
    monkeypatch.setattr(pyarrow.fs, "copy_files", lambda *a, **k: (downloads.append(a[0]), copy_files(*a, **k))[1])

    first = local_path(location)  # the driver resolving the model: a fresh download
    recorded = file_sha256(first)
    for _ in range(3):  # three actors of one node: the cached copy of that content, checked, not downloaded again
        assert local_path(location, recorded) == first
    assert len(downloads) == 1

    with fsspec.open(location, "wb") as stream:  # the object is replaced after the job started
        stream.write(b"weights, second version")
    first.unlink()  # a node without the cached copy downloads the new content and refuses it
    with pytest.raises(ContentChangedError, match=f"the job recorded {recorded}"):
        local_path(location, recorded)
    local = tmp_path / "model.pt"
    local.write_bytes(b"something else")
    with pytest.raises(ContentChangedError, match="replaced after the job started"):
        local_path(local, recorded)


def test_credentials_are_removed_from_every_uri_in_a_text_or_record():
    from equicr.storage import redact_text, redacted

    command = "jobs/train.py --data s3://KEY:SECRET@bucket/d.zarr --storage gs://tok@b2/runs"
    assert redact_text(command) == "jobs/train.py --data s3://bucket/d.zarr --storage gs://b2/runs"
    signed = "https://account.blob.core.windows.net/c/B04.tif?st=2026&se=2027&sig=SECRET"
    assert (
        redact_text(f"cannot read {signed} (403)")
        == "cannot read https://account.blob.core.windows.net/c/B04.tif?<redacted> (403)"
    )
    config = {"data": "s3://KEY:SECRET@bucket/d.zarr", "epochs": 3, "paths": ["s3://K:S@b/x"]}
    assert redacted(config) == {"data": "s3://bucket/d.zarr", "epochs": 3, "paths": ["s3://b/x"]}
