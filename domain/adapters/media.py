"""Where media bytes live, for the API and the migration job alike: the ``MediaStore`` port, its
local-directory implementation, and ``open_media_store`` choosing one from a media URL (the GCS
one is in ``domain.adapters.gcs_media``).

Keys are ``domain.media.storage_key(sha256)``, so identical bytes are stored once, and a key
that does not have exactly that shape never reaches a file system or a bucket. Errors::

    MediaMissing (NotFound, 404)                      no stored object has this key
    MediaStoreUnavailable (StoreUnavailable, 503)     the store cannot be reached right now
    MediaCorrupt (RuntimeError)                       bytes do not match the digest they came with
    InvalidMediaURL (ValueError)                      the URL names no store
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final, Protocol
from urllib.parse import unquote, urlsplit

from domain.errors import NotFound, StoreUnavailable
from domain.media import is_storage_key, storage_key

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 1024 * 1024  # per read; larger chunks measured faster (bench/media.py)
STAGING: Final = ".staging"  # beside the objects, so that storing a staged file is a rename
STALE_STAGING_S: Final = 3600.0  # staged files older than this were left by a crash


class MediaMissing(NotFound):
    code = "media_not_found"


class MediaStoreUnavailable(StoreUnavailable):
    code = "media_store_unavailable"


class MediaCorrupt(RuntimeError):
    """Bytes do not match the SHA-256 they were stored or read under."""


class InvalidMediaURL(ValueError):
    """The media URL names no store: not ``file:///dir``, a directory path or ``gs://bucket``."""


class MediaStore(Protocol):
    """Content-addressed bytes. ``put_*`` return True when they stored new bytes, False when the
    key already held them; ``read`` raises ``MediaMissing`` at once, before yielding anything."""

    def staging_dir(self) -> Path | None:
        """Where an upload should be spooled so that ``put_file`` is cheapest (None: anywhere)."""
        ...

    def put_file(self, key: str, path: Path, content_type: str) -> bool: ...

    def put_bytes(self, key: str, data: bytes, content_type: str) -> bool: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of the object (``end`` None: to its end)."""
        ...

    def signed_url(self, key: str, *, content_type: str, filename: str) -> str | None:
        """A short-lived URL the client may fetch directly, or None to stream through the API."""
        ...

    def keys(self) -> Iterator[str]:
        """Every stored key (operations and tests: nothing is stored that no one asked for)."""
        ...

    def close(self) -> None: ...


def checked_key(key: str) -> str:
    if not is_storage_key(key):
        # Keys come from our own events; one that does not parse names nothing we could store.
        raise MediaMissing("media not found")
    return key


class LocalMediaStore:
    """Files ``<root>/sha256/ab/<hex>``, written through a staging directory beside them."""

    def __init__(self, root: Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.root = root.resolve()
        self._chunk_bytes = chunk_bytes
        self._staging = self.root / STAGING
        self._staging.mkdir(parents=True, exist_ok=True)
        self._sweep_staging()

    def staging_dir(self) -> Path:
        return self._staging

    def path_of(self, key: str) -> Path:
        path = self.root / checked_key(key)
        # The key's shape already rules out "..", separators and absolute paths; this is the
        # belt to those braces.
        if not path.resolve().is_relative_to(self.root):
            raise MediaMissing("media not found")
        return path

    def put_file(self, key: str, path: Path, content_type: str) -> bool:
        target = self.path_of(key)
        if target.exists():
            return False
        _fsync(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A link never replaces an existing file, and leaves the caller's file in place.
            os.link(path, target)
        except FileExistsError:
            return False
        except OSError:  # no hard links across devices or on this file system: copy, rename
            with self._staged_copy(path) as staged:
                os.replace(staged, target)
        _fsync_dir(target.parent)
        return True

    def put_bytes(self, key: str, data: bytes, content_type: str) -> bool:
        with self._staged() as (staged, out):
            out.write(data)
            out.close()
            return self.put_file(key, staged, content_type)

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            handle = self.path_of(key).open("rb")
        except FileNotFoundError:
            raise MediaMissing("media not found") from None
        return _file_chunks(handle, start, end, self._chunk_bytes)

    def signed_url(self, key: str, *, content_type: str, filename: str) -> str | None:
        return None

    def keys(self) -> Iterator[str]:
        for path in sorted(self.root.glob("sha256/*/*")):
            key = path.relative_to(self.root).as_posix()
            if is_storage_key(key):
                yield key

    def close(self) -> None:
        """Nothing to release: files are opened per read."""

    @contextlib.contextmanager
    def _staged(self) -> Iterator[tuple[Path, IO[bytes]]]:
        fd, name = tempfile.mkstemp(dir=self._staging, prefix="put-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                yield path, out
        finally:
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _staged_copy(self, source: Path) -> Iterator[Path]:
        with self._staged() as (staged, out), source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
            out.close()
            yield staged

    def _sweep_staging(self) -> None:
        cutoff = time.time() - STALE_STAGING_S
        for path in self._staging.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()


def _file_chunks(handle: IO[bytes], start: int, end: int | None, size: int) -> Iterator[bytes]:
    # The file closes when the generator ends or is discarded (a client that went away).
    with handle:
        handle.seek(start)
        remaining = None if end is None else max(0, end - start)
        while remaining is None or remaining > 0:
            chunk = handle.read(size if remaining is None else min(size, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def put_checked(store: MediaStore, data: bytes, *, sha256: str, content_type: str) -> str:
    """Store ``data`` under the digest the caller states, then read it back: an import must
    never point at bytes other than the ones it read. Returns the key; idempotent."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise MediaCorrupt(f"sha256 mismatch: expected {sha256}, got {actual}")
    key = storage_key(sha256)
    store.put_bytes(key, data, content_type)
    stored = hashlib.sha256()
    for chunk in store.read(key):
        stored.update(chunk)
    if stored.hexdigest() != sha256:
        raise MediaCorrupt(f"{key}: the stored copy does not match its sha256")
    return key


def check_media_url(url: str) -> None:
    """Raise ``InvalidMediaURL`` unless ``open_media_store`` would know the URL (opens nothing)."""
    _where(url)


def open_media_store(
    url: str,
    *,
    project: str | None = None,
    credentials_file: Path | None = None,
    signed_urls: bool = False,
) -> MediaStore:
    """The store a media URL names: ``file:///dir``, a plain directory path, or
    ``gs://bucket/prefix`` (``project``, ``credentials_file`` and ``signed_urls`` apply to GCS)."""
    bucket, path = _where(url)
    if bucket is None:
        return LocalMediaStore(Path(path))
    # The google libraries are imported only by a process that stores media on GCS.
    from domain.adapters.gcs_media import open_gcs_store  # noqa: PLC0415

    return open_gcs_store(
        bucket,
        path.strip("/"),
        project=project,
        credentials_file=credentials_file,
        signed_urls=signed_urls,
    )


def _where(url: str) -> tuple[str | None, str]:
    """``(bucket, prefix)`` of a GCS URL, ``(None, directory)`` of a local one."""
    parts = urlsplit(url)
    if parts.scheme == "gs":
        if not parts.netloc:
            raise InvalidMediaURL(f"media URL {url!r} names no bucket")
        return parts.netloc, parts.path
    if parts.scheme == "file":
        return None, unquote(parts.path)
    if parts.scheme == "":
        return None, url
    raise InvalidMediaURL(f"unsupported media URL {url!r}: use file:///dir or gs://bucket/prefix")
