"""Leases on local storage and on S3 (moto's server on loopback): exclusive, renewed, taken over only when stale."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import fsspec
import pytest

from equicr.lease import (
    Holder,
    LeaseHeld,
    LeaseKeeper,
    LeaseLost,
    acquire_lease,
    check_lease,
    exclusive_writer,
    lease_location,
)
from equicr.lease import _backend as lease_backend  # the storage primitive a race is injected into


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path):
    """A lease location on each kind of storage a collection can live on."""
    if request.param == "local":
        return lease_location(tmp_path / "collection.zarr", "decloud-scene_0")
    bucket = request.getfixturevalue("s3_bucket")
    return lease_location(f"{bucket}/lease-{time.time_ns()}/collection.zarr", "decloud-scene_0")


def write_record(location, **changes):
    """Plant a lease record as another job would have left it."""
    holder = Holder(**{**json.loads(Holder.this_process(60).body()), "token": "someone-else", **changes})
    with fsspec.open(location, "wb") as file:
        file.write(holder.body())


def test_a_lease_is_exclusive_until_released(location):
    first = acquire_lease(location)
    with pytest.raises(LeaseHeld, match=f"held by process {os.getpid()}"):
        acquire_lease(location)
    check_lease(first.location, first.token)
    first.release()
    second = acquire_lease(location)
    with pytest.raises(LeaseLost, match="lost its lease"):
        check_lease(location, first.token)
    second.release()
    assert not fsspec.core.url_to_fs(location)[0].exists(location), "release leaves nothing behind"


def test_a_lease_not_renewed_for_its_time_to_live_is_taken_over(location):
    write_record(location, renewed=time.time() - 30, ttl=60)
    with pytest.raises(LeaseHeld):  # renewed 30 s ago by a live process: still valid
        acquire_lease(location)
    write_record(location, renewed=time.time() - 61, ttl=60)
    lease = acquire_lease(location)
    check_lease(location, lease.token)
    with pytest.raises(LeaseLost):
        check_lease(location, "someone-else")


def test_a_lease_dated_in_the_future_is_stale_beyond_its_time_to_live(tmp_path):
    """A clock that jumped ahead must not block a scene for years: ahead by more than the ttl is stale."""
    location = lease_location(tmp_path / "collection.zarr", "decloud-scene_0")
    write_record(location, renewed=time.time() + 30, ttl=60)  # a little skew between machines: still held
    with pytest.raises(LeaseHeld):
        acquire_lease(location)
    write_record(location, renewed=time.time() + 3 * 365 * 86400, ttl=60)
    check_lease(location, acquire_lease(location).token)


def test_the_keeper_survives_a_storage_hiccup_and_gives_up_only_after_the_ttl(tmp_path, monkeypatch):
    from equicr.lease import Lease

    location = lease_location(tmp_path / "collection.zarr", "decloud-scene_0")
    real_renew, failures = Lease.renew, {"left": 2}

    def flaky(self):
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError("connection reset by peer")
        real_renew(self)

    monkeypatch.setattr(Lease, "renew", flaky)
    with LeaseKeeper(ttl=1.2) as keeper:
        keeper.take("scene", location)
        time.sleep(2.5)  # two failed renewals, then good ones
        assert keeper.holds("scene") and keeper._thread.is_alive() and failures["left"] == 0
        failures["left"] = 10**6  # storage gone for good: lost once a whole ttl went unrenewed
        time.sleep(2.5)
        assert keeper._thread.is_alive() and "could not be renewed for 1 s (OSError" in keeper.lost["scene"]


def test_a_killed_holder_on_this_host_frees_its_lease_at_once(tmp_path):
    location = lease_location(tmp_path / "collection.zarr", "ingest")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from equicr.lease import acquire_lease; acquire_lease({location!r}); "
         "print('held', flush=True); import time; time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LeaseHeld, match=f"process {holder.pid}"):
        acquire_lease(location)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    acquire_lease(location).release()  # no need to wait for the time to live


def _take_over(location, start, results):
    start.wait()
    try:
        acquire_lease(location)
        results.put("won")
    except LeaseHeld:
        results.put("refused")


def test_of_many_jobs_taking_over_one_stale_lease_exactly_one_wins(location):
    write_record(location, renewed=time.time() - 3600)
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    racers = [context.Process(target=_take_over, args=(location, start, results)) for _ in range(6)]
    for racer in racers:
        racer.start()
    start.set()
    outcomes = sorted(results.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join()
    assert outcomes == ["refused"] * 5 + ["won"]


def test_the_keeper_renews_its_leases_and_notices_when_one_is_lost(location):
    with LeaseKeeper(ttl=0.8) as keeper:
        keeper.take("scene", location)
        time.sleep(2.0)  # more than twice the time to live: only renewal keeps it
        with pytest.raises(LeaseHeld):
            acquire_lease(location, ttl=0.8)
        assert keeper.holds("scene")
        write_record(location, renewed=time.time())  # another job took it over
        assert not keeper.holds("scene") and "lost its lease" in keeper.lost["scene"]
    assert fsspec.core.url_to_fs(location)[0].exists(location), "a lost lease is not the keeper's to release"


def test_a_busy_collection_is_refused_naming_the_holder(tmp_path):
    collection = tmp_path / "patches.zarr"
    busy = f"patches.zarr is being written by another job .*process {os.getpid()}"
    with (
        exclusive_writer(collection, "ingest"),
        pytest.raises(LeaseHeld, match=busy),
        exclusive_writer(collection, "ingest"),
    ):
        pass
    with exclusive_writer(collection, "ingest"):
        pass
    assert not (tmp_path / "patches.zarr.leases").exists()


def test_a_lease_names_its_command_without_credentials_and_only_its_owner_reads_it(tmp_path, monkeypatch):
    import stat
    import sys

    from equicr.lease import exclusive_writer, lease_location

    monkeypatch.setattr(sys, "argv", ["jobs/decloud.py", "--model", "s3://AKIAKEY:SECRET@bucket/m.onnx"])
    collection = tmp_path / "c.zarr"
    with exclusive_writer(collection, "decloud"):
        lease = type(tmp_path)(lease_location(collection, "decloud"))
        body = lease.read_text()
        assert "SECRET" not in body and "s3://bucket/m.onnx" in body
        assert stat.S_IMODE(lease.stat().st_mode) == 0o600


def test_a_takeover_right_after_a_renewal_is_never_taken_for_ours(location, monkeypatch):
    lease = acquire_lease(location, ttl=60)
    backend_type = type(lease_backend(location))
    replace = backend_type.replace

    def replace_then_taken_over(self, body, version):
        ours = replace(self, body, version)
        write_record(location, renewed=time.time())  # another job writes before we could read anything back
        return ours

    monkeypatch.setattr(backend_type, "replace", replace_then_taken_over)
    lease.renew()
    monkeypatch.undo()
    with pytest.raises(LeaseLost):
        check_lease(location, lease.token)
    lease.release()  # releases only what is still ours
    assert fsspec.core.url_to_fs(location)[0].exists(location), "the other job's lease was deleted"
