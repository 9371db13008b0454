"""Leases: one writer at a time per item of a collection, on the storage the collection lives on.

Two jobs writing one scene's output, or two ingests writing one collection's shared per-patch
metadata chunks, would mix or lose each other's writes. A lease makes them take turns: a small
JSON object beside the collection (``<collection>.leases/<item>.json``) names its holder (a random
token, host, process id and start time, command) and when it was last renewed.

- **Taken** by exclusive creation: a hard link of a complete temporary file locally (``link``
  fails if the name exists), ``If-None-Match: *`` on S3.
- **Kept** by a background thread that renews it every quarter of its time to live
  (:class:`LeaseKeeper`).
- **Stale** when its holder stopped renewing for ``ttl`` seconds, or at once when the holder was a
  process on this host that is gone (a ``kill -9``: the rerun need not wait).
- **Taken over** from a stale holder, and renewed, only by compare-and-swap: under ``flock`` of the
  lease folder locally, ``If-Match`` on the object's ETag on S3. Of several jobs taking over one
  stale lease, exactly one wins.
- **Checked** by workers before each write (:func:`check_lease`), so a job that lost its lease
  stops writing; released at the end.

Clocks of different hosts are compared only through ``ttl`` (60 s by default), so a skew of a few
seconds does no harm.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import fsspec
import psutil
from fsspec.implementations.local import LocalFileSystem

from equicr.errors import UserError
from equicr.storage import atomic_output, normalise, redact, redact_text

#: Seconds a lease stays valid without renewal.
LEASE_SECONDS = 60.0
#: Suffix of the folder beside a collection that holds its leases.
LEASES_SUFFIX = ".leases"


class LeaseHeld(UserError):
    """Another live job holds the lease: nothing was done, and the user can retry once it is finished."""


class LeaseLost(UserError):
    """This job's lease was taken over (it stopped renewing for longer than its time to live)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and until when it is valid."""

    token: str
    host: str
    pid: int
    process_started: float
    command: str
    renewed: float
    ttl: float

    @classmethod
    def this_process(cls, ttl: float) -> Holder:
        """A new holder record for the calling process."""
        process = psutil.Process()
        return cls(secrets.token_hex(16), socket.gethostname(), process.pid, process.create_time(),
                   redact_text(" ".join(sys.argv))[:500], time.time(), ttl)  # fmt: skip

    @classmethod
    def parse(cls, body: bytes) -> Holder | None:
        """The holder recorded in a lease object, or None if it cannot be read (treated as stale)."""
        try:
            return cls(**json.loads(body))
        except (ValueError, TypeError):
            return None

    def body(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    def is_stale(self, now: float | None = None) -> bool:
        """Whether the holder stopped renewing for ``ttl`` seconds, or is a process of this host that is gone.

        A renewal time ahead of now by more than ``ttl`` is stale too: only a clock that jumped (on the
        holder's machine or this one) writes one, and it would otherwise block the item for as long.
        """
        age = (time.time() if now is None else now) - self.renewed
        if age > self.ttl or -age > self.ttl:
            return True
        if self.host != socket.gethostname():
            return False
        try:
            return abs(psutil.Process(self.pid).create_time() - self.process_started) > 1.0  # the pid was reused
        except psutil.NoSuchProcess:
            return True

    def describe(self) -> str:
        age = time.time() - self.renewed
        return f"process {self.pid} on {self.host} ({self.command!r}), renewed {age:.0f} s ago"


# ------------------------------------------------------------------------------- storage back ends


def write_private(path: Path, body: bytes) -> None:
    """Create ``path`` readable and writable by this user alone (a lease names the job's command and places)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(body)


class _LocalBackend:
    """Exclusive create by hard link, compare-and-swap under ``flock`` of the lease folder."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        descriptor = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def _temporary(self, body: bytes) -> Path:
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        write_private(temporary, body)
        return temporary

    def create(self, body: bytes) -> bytes | None:
        for _ in range(5):  # another job may remove the emptied folder between our mkdir and our write
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                temporary = self._temporary(body)
                break
        try:
            os.link(temporary, self.path)  # readers never see a partly written lease
            return body  # the version is the content
        except FileExistsError:
            return None
        finally:
            temporary.unlink()

    def read(self) -> tuple[bytes, bytes] | None:
        try:
            body = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return body, body

    def replace(self, body: bytes, version: bytes) -> bytes | None:
        with self._locked():
            current = self.read()
            if current is None or current[1] != version:
                return None
            with atomic_output(self.path) as temporary:
                write_private(temporary, body)
            return body

    def delete(self, version: bytes) -> None:
        with self._locked():
            current = self.read()
            if current is not None and current[1] == version:
                self.path.unlink()
        with contextlib.suppress(OSError):  # the last lease gone: no empty folder left beside the collection
            self.path.parent.rmdir()


class _S3Backend:
    """Exclusive create with ``If-None-Match: *``, compare-and-swap with ``If-Match`` on the ETag."""

    def __init__(self, filesystem: fsspec.AbstractFileSystem, path: str) -> None:
        self.filesystem, self.path = filesystem, path

    def create(self, body: bytes) -> str | None:
        try:
            return self.filesystem.pipe_file(self.path, body, mode="create")["ETag"]
        except FileExistsError:  # s3fs's name for "412 Precondition Failed" on If-None-Match
            return None

    def read(self) -> tuple[bytes, str] | None:
        self.filesystem.invalidate_cache(self.path)
        try:
            etag = self.filesystem.info(self.path)["ETag"]  # first: content read later is at least as new
            return self.filesystem.cat_file(self.path), etag
        except FileNotFoundError:
            return None

    def replace(self, body: bytes, version: str) -> str | None:
        try:
            return self.filesystem.pipe_file(self.path, body, IfMatch=version)["ETag"]
        except OSError as error:
            if "pre-condition" in str(error) or isinstance(error, FileNotFoundError):
                return None  # changed or removed since we read it
            raise

    def delete(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            self.filesystem.rm_file(self.path)


def _backend(location: str) -> _LocalBackend | _S3Backend:
    filesystem, path = fsspec.core.url_to_fs(normalise(location))
    if isinstance(filesystem, LocalFileSystem):
        return _LocalBackend(path)
    if "s3" in filesystem.protocol or "s3a" in filesystem.protocol:
        return _S3Backend(filesystem, path)
    raise UserError(f"{location}: leases need a local (or shared) file system or S3, not {filesystem.protocol}")


# ------------------------------------------------------------------------------------------ leases


def lease_location(collection: str | Path, item: str) -> str:
    """Where the lease for ``item`` of ``collection`` lives: a folder beside the collection, on its storage."""
    return f"{normalise(collection).rstrip('/')}{LEASES_SUFFIX}/{item}.json"


@dataclass
class Lease:
    """A lease this process holds."""

    location: str
    holder: Holder
    version: bytes | str

    @property
    def token(self) -> str:
        return self.holder.token

    def renew(self) -> None:
        """Push the expiry forward; LeaseLost if another job took it over."""
        backend = _backend(self.location)
        renewed = replace(self.holder, renewed=time.time())
        version = backend.replace(renewed.body(), self.version)
        if version is None:
            current = backend.read()
            other = Holder.parse(current[0]) if current else None
            raise LeaseLost(f"{self.location} was taken over by {other.describe() if other else 'nobody'}")
        # The version our write made, never one read afterwards: another job may have written since.
        self.holder, self.version = renewed, version

    def release(self) -> None:
        """Give the lease up (if it is still ours)."""
        _backend(self.location).delete(self.version)


def acquire_lease(location: str, ttl: float = LEASE_SECONDS) -> Lease:
    """Take the lease at ``location``; LeaseHeld naming the holder if another live job has it."""
    backend = _backend(location)
    for _ in range(5):  # a lease released or taken over between our reads: look again
        holder = Holder.this_process(ttl)
        version = backend.create(holder.body())
        if version is not None:
            return Lease(location, holder, version)
        current = backend.read()
        if current is None:
            continue
        other = Holder.parse(current[0])
        if other is not None and not other.is_stale():
            raise LeaseHeld(f"held by {other.describe()}")
        version = backend.replace(holder.body(), current[1])
        if version is not None:
            return Lease(location, holder, version)
    raise LeaseHeld(f"{location} is contended by several jobs at once; try again")


def check_lease(location: str, token: str) -> None:
    """LeaseLost unless the lease at ``location`` is still held with ``token`` (workers call it before writing)."""
    current = _backend(location).read()
    holder = Holder.parse(current[0]) if current else None
    if holder is None or holder.token != token:
        raise LeaseLost(
            f"this job lost its lease {location} to {holder.describe() if holder else 'nobody'}; "
            "its remaining writes are dropped"
        )


class LeaseKeeper:
    """Holds leases for the length of a job and renews them from a background thread.

    ``take(location)`` acquires one more; the names of leases lost to other jobs collect in
    ``lost``; leaving the ``with`` block releases every lease still held.
    """

    def __init__(self, ttl: float = LEASE_SECONDS) -> None:
        self.ttl, self.leases, self.lost = ttl, {}, {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._renew_forever, name="lease-renewal", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        for lease in self.leases.values():
            lease.release()

    def take(self, key: str, location: str) -> Lease:
        """Acquire the lease at ``location`` under ``key``; LeaseHeld if another live job has it."""
        lease = acquire_lease(location, self.ttl)
        with self._lock:
            self.leases[key] = lease
        return lease

    def holds(self, key: str) -> bool:
        """Whether the lease under ``key`` is still ours (checked on the storage, not from memory)."""
        lease = self.leases.get(key)
        if lease is None or key in self.lost:
            return False
        try:
            check_lease(lease.location, lease.token)
            return True
        except LeaseLost as error:
            self.lost[key] = str(error)
            return False

    def _renew_forever(self) -> None:
        """Renew every held lease each quarter of its time to live, until the job ends.

        A renewal that fails for any other reason than another job's takeover (a storage hiccup) is
        tried again at the next round; only when a lease has gone a whole ``ttl`` unrenewed is it
        given up as lost, with the last error, so the thread never dies and leaves leases to expire.
        """
        while not self._stop.wait(self.ttl / 4):
            with self._lock:
                for key, lease in list(self.leases.items()):
                    if key in self.lost:
                        continue
                    try:
                        lease.renew()
                    except LeaseLost as error:
                        self.lost[key] = str(error)
                    except Exception as error:  # noqa: BLE001 - retried; given up only once the lease has expired
                        if time.time() - lease.holder.renewed > self.ttl:
                            self.lost[key] = (
                                f"{lease.location} could not be renewed for {self.ttl:.0f} s "
                                f"({type(error).__name__}: {redact_text(str(error))})"
                            )


@contextmanager
def exclusive_writer(collection: str | Path, item: str, ttl: float = LEASE_SECONDS) -> Iterator[LeaseKeeper]:
    """Hold the lease for ``item`` of ``collection`` for the length of the block; LeaseHeld names the holder."""
    keeper = LeaseKeeper(ttl)
    location = lease_location(collection, item)
    try:
        keeper.take(item, location)
    except LeaseHeld as error:
        raise LeaseHeld(
            f"{redact(collection)} is being written by another job ({item}: {error}); wait for it to finish"
        ) from None
    with keeper:
        yield keeper
