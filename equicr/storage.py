"""Where the package reads and writes files: local paths and object-store URIs, written atomically.

Three things live here and nowhere else:

- :func:`normalise` turns a ``file://`` URI into a plain path and leaves every other location as it
  is, so every reader and writer sees one spelling of a local file.
- :func:`atomic_output` is the one way the package writes a file or folder that a reader may look
  at: the content goes to a temporary sibling and appears under its name only once complete (a
  rename on local disk, a single upload to an object store, where a put is atomic). A crash never
  leaves a half-written output that looks finished.
- :func:`local_path` gives torch and ONNX Runtime, which only open local files, a local copy of a
  remote file in a private per-user cache: a fresh download when no content hash is given, and
  with one (a model's recorded SHA-256) the cached copy of that content, downloaded once per node
  and checked. The endpoint and credentials come from the environment as usual
  (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, an instance profile, ...).

Zarr collections are read in place through fsspec (:mod:`equicr.data.collection`) and Ray Train
writes checkpoints through pyarrow.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.fs

from equicr.errors import UserError

#: Where remote files are copied to: private to this user (mode 0700); override with EQUICR_CACHE.
CACHE_DIR = Path(
    os.environ.get("EQUICR_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "equicr"
)
FILE_SCHEME = "file://"


def normalise(location: str | Path) -> str:
    """One spelling per location: a ``file://`` URI becomes its plain path, anything else is unchanged."""
    text = str(location)
    return text[len(FILE_SCHEME) :] if text.startswith(FILE_SCHEME) else text


def redact(location: str | Path) -> str:
    """``location`` without credentials (``s3://KEY:SECRET@bucket/x`` -> ``s3://bucket/x``), for records and logs."""
    return redact_text(str(location))


#: The user-information part of any URI in a text (``s3://KEY:SECRET@``), and a URL's query string,
#: where signed URLs carry their tokens (``?sv=...&sig=...``).
_URI_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")
_URL_QUERY = re.compile(r"(?P<url>\bhttps?://[^\s?'\"]+)\?[^\s'\"]*")


def redact_text(text: str) -> str:
    """``text`` with credentials removed from every URI in it (user information, signed-URL queries).

    For what is not a single location: command lines, error messages, tracebacks, records.
    """
    return _URL_QUERY.sub(r"\g<url>?<redacted>", _URI_CREDENTIALS.sub(r"\g<scheme>", str(text)))


def redacted(value: Any) -> Any:
    """``value`` (a record of dicts, lists and strings) with :func:`redact_text` applied to every string."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


def is_remote(location: str | Path) -> bool:
    """Whether ``location`` is a URI of something other than the local file system."""
    return "://" in normalise(location)


def join(location: str | Path, *parts: str) -> str:
    """``location`` with path ``parts`` appended, for local paths and URIs alike."""
    text = normalise(location)
    if not is_remote(text):
        return str(Path(text, *parts))
    return "/".join([text.rstrip("/"), *(part.strip("/") for part in parts)])


def uri(filesystem: pyarrow.fs.FileSystem, path: str) -> str:
    """The location of ``path`` on a pyarrow ``filesystem`` (as Ray Train hands them out): a plain path or a URI."""
    if isinstance(filesystem, pyarrow.fs.LocalFileSystem):
        return path
    return f"{filesystem.type_name}://{path.lstrip('/')}"


class ContentChangedError(UserError):
    """A file's content is not the content a job recorded for it (it was replaced after the job started)."""


def local_path(location: str | Path, sha256: str | None = None) -> Path:
    """A local path for ``location``: itself when local, else a copy (file or folder) in the cache.

    Without ``sha256`` a remote location is downloaded afresh. With it (a file's recorded SHA-256),
    the file is checked against it: a cached copy of that content is used as it is (so the actors
    of one node download a model once between them, under a lock), a new download must match, and
    a local file must match too; a mismatch is a ContentChangedError naming both hashes.
    """
    if not is_remote(location):
        path = Path(normalise(location))
        if sha256 is not None and path.is_file():
            check_sha256(path, sha256, location)
        return path
    filesystem, remote = pyarrow.fs.FileSystem.from_uri(str(location))
    copy = private_cache_dir() / hashlib.sha256(str(location).encode()).hexdigest()[:16] / Path(remote).name
    copy.parent.mkdir(mode=0o700, exist_ok=True)
    with _locked(copy.parent / "download.lock"):  # one download per node; the others wait and reuse it
        if sha256 is not None and copy.is_file() and file_sha256(copy) == sha256:
            return copy
        info = filesystem.get_file_info(remote)
        if info.type == pyarrow.fs.FileType.NotFound:
            raise FileNotFoundError(f"{redact(location)} does not exist")
        with atomic_output(copy) as temporary:  # concurrent readers see the old copy or the new one, never half
            pyarrow.fs.copy_files(remote, str(temporary), source_filesystem=filesystem,
                                  destination_filesystem=pyarrow.fs.LocalFileSystem())  # fmt: skip
            if info.type == pyarrow.fs.FileType.File and temporary.stat().st_size != info.size:
                raise OSError(f"{location}: the download has {temporary.stat().st_size} bytes, the object {info.size}")
            if sha256 is not None:
                check_sha256(temporary, sha256, location)
    return copy


def check_sha256(path: Path, sha256: str, location: str | Path) -> None:
    """ContentChangedError unless the file at ``path`` (the content of ``location``) has this SHA-256."""
    actual = file_sha256(path)
    if actual != sha256:
        raise ContentChangedError(
            f"{redact(location)} has SHA-256 {actual}, but the job recorded {sha256}: it was replaced after the job "
            "started; rerun the job to use the new file"
        )


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_file`` for the length of the block (processes of one node take turns)."""
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def private_cache_dir() -> Path:
    """The cache folder, created for this user alone; refused when it is a link or belongs to someone else.

    A predictable shared folder would let another user plant a symlink where a download lands, or
    swap a model file before it is opened.
    """
    CACHE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = CACHE_DIR.lstat()
    if CACHE_DIR.is_symlink() or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise PermissionError(
            f"cache folder {CACHE_DIR} must be a folder of this user's alone (mode 0700, not a link); "
            "remove it or set EQUICR_CACHE elsewhere"
        )
    return CACHE_DIR


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a local file, read in blocks: the identity outputs record for the model that made them."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload(local: str | Path, location: str) -> str:
    """Copy the local file ``local`` to the object-store URI ``location`` in one put; return ``location``."""
    filesystem, remote = pyarrow.fs.FileSystem.from_uri(location)
    pyarrow.fs.copy_files(str(local), remote, source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=filesystem)  # fmt: skip
    return location


@contextmanager
def atomic_output(location: str | Path) -> Iterator[Path]:
    """Yield a local temporary path to write ``location``'s content to; publish it only if the block succeeds.

    The temporary path does not exist yet: write a file or create a folder there. On success a local
    ``location`` is replaced by it with one rename (an existing folder is first moved aside, so for
    a moment nothing is there, but never half of it); a URI receives it as one upload. On an
    exception ``location`` is left as it was and the temporary is removed.
    """
    remote = is_remote(location)
    if remote:
        staging = Path(tempfile.mkdtemp(prefix="equicr-upload-"))
        temporary = staging / Path(str(location).rstrip("/")).name
    else:
        final = Path(normalise(location))
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")  # unique per writer
        _remove(temporary)
    try:
        yield temporary
        if remote:
            upload(temporary, str(location))
        elif temporary.is_dir() and final.is_dir():
            stale = final.with_name(f".{final.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.replace(final, stale)
            os.replace(temporary, final)
            _remove(stale)
        else:
            os.replace(temporary, final)
    finally:
        _remove(staging if remote else temporary)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, so that it serialises as strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """Strict JSON (NaN and infinities as ``null``), indented for people."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False)


def write_json(location: str | Path, value: Any) -> str:
    """Write ``value`` as strict JSON to ``location`` (path or URI), atomically; return the location."""
    return write_text(location, json_text(value))


def write_text(location: str | Path, text: str) -> str:
    """Write ``text`` to ``location`` (path or URI) atomically: the old content or the new, never half; return it."""
    with atomic_output(location) as temporary:
        temporary.write_text(text)
    return str(location)
