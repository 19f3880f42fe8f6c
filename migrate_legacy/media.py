"""Where image binaries go: a small content-addressed media port with a local directory and a
Google Cloud Storage implementation, keyed by ``domain.media.storage_key`` like the API's store.

The API has its own stores in ``api.media``, which this job may not import; both write the same
``<root>/sha256/ab/<hex>`` tree. They should become one port in a shared package later.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from domain.media import storage_key


class MediaError(RuntimeError):
    """A binary could not be stored, or what was stored does not match its sha256."""


class InvalidMediaURL(ValueError):
    """The media URL names no store this job can write to."""


class MediaStore(Protocol):
    def put(self, data: bytes, *, sha256: str, content_type: str) -> str:
        """Store ``data`` (whose digest the caller states) and return its key; idempotent."""


def open_media_store(url: str) -> MediaStore:
    """``file:///dir``, a plain directory path, or ``gs://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "gs":
        if not parts.netloc:
            raise InvalidMediaURL(f"media URL {url!r} names no bucket")
        return GcsMediaStore(parts.netloc, parts.path.strip("/"))
    if parts.scheme == "file":
        return LocalMediaStore(Path(unquote(parts.path)))
    if parts.scheme == "":
        return LocalMediaStore(Path(url))
    raise InvalidMediaURL(f"unsupported media URL {url!r}: use file:///dir or gs://bucket/prefix")


def _check(data: bytes, sha256: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise MediaError(f"sha256 mismatch: expected {sha256}, got {actual}")


class LocalMediaStore:
    """Files under ``root``, each written to a temporary name and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        return self.root / key

    def put(self, data: bytes, *, sha256: str, content_type: str) -> str:
        _check(data, sha256)
        key = storage_key(sha256)
        target = self.path_of(key)
        with contextlib.suppress(OSError):
            if hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
                return key  # already there, intact
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
            raise MediaError(f"{key}: the stored copy does not match its sha256")
        return key


class GcsMediaStore:
    """Objects ``<prefix>/<key>`` in one bucket; ``STORAGE_EMULATOR_HOST`` selects an emulator."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        from google.cloud import storage  # type: ignore[import-untyped]  # noqa: PLC0415

        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self._prefix = prefix

    def name_of(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def put(self, data: bytes, *, sha256: str, content_type: str) -> str:
        from google.api_core.exceptions import PreconditionFailed  # noqa: PLC0415

        _check(data, sha256)
        key = storage_key(sha256)
        blob = self._bucket.blob(self.name_of(key))
        blob.metadata = {"sha256": sha256}
        with contextlib.suppress(PreconditionFailed):  # content-addressed: already there
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        stored = self._bucket.get_blob(self.name_of(key))
        if stored is None or stored.size != len(data):
            raise MediaError(f"{key}: the stored object is missing or has the wrong size")
        expected_md5 = _md5_b64(data)
        if stored.md5_hash and stored.md5_hash != expected_md5:
            raise MediaError(f"{key}: the stored object does not match (md5)")
        return key


def _md5_b64(data: bytes) -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
