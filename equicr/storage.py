"""Local paths and object-store URIs (``s3://``, ``gs://``) for the files the package reads whole.

Zarr collections are read in place through fsspec (:mod:`equicr.data.collection`) and Ray Train
writes checkpoints through pyarrow; a checkpoint or ONNX file on object storage is copied once to
a local cache before torch or ONNX Runtime opens it. The endpoint and credentials come from the
environment as usual (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, an instance profile, ...).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pyarrow.fs

#: Where remote files are copied to; override with EQUICR_CACHE.
CACHE_DIR = Path(os.environ.get("EQUICR_CACHE", Path(tempfile.gettempdir()) / "equicr-cache"))


def is_remote(location: str | Path) -> bool:
    """Whether ``location`` is a URI of something other than the local file system."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | Path) -> Path:
    """A local path for ``location``: itself when local, else a fresh copy (file or folder) in the cache."""
    if not is_remote(location):
        text = str(location)
        return Path(text[len("file://") :] if text.startswith("file://") else text)
    filesystem, remote = pyarrow.fs.FileSystem.from_uri(str(location))
    info = filesystem.get_file_info(remote)
    if info.type == pyarrow.fs.FileType.NotFound:
        raise FileNotFoundError(f"{location} does not exist")
    copy = CACHE_DIR / hashlib.sha256(str(location).encode()).hexdigest()[:16] / Path(remote).name
    copy.parent.mkdir(parents=True, exist_ok=True)
    pyarrow.fs.copy_files(remote, str(copy), source_filesystem=filesystem,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())  # fmt: skip
    return copy


def upload(local: Path, location: str) -> str:
    """Copy the local file ``local`` to the object-store URI ``location``; return ``location``."""
    filesystem, remote = pyarrow.fs.FileSystem.from_uri(location)
    pyarrow.fs.copy_files(str(local), remote, source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=filesystem)  # fmt: skip
    return location
