"""Media on Google Cloud Storage, for the API and the migration job: objects
``<prefix>/sha256/ab/<hex>`` in one bucket, written once (``if_generation_match=0``) and served
through short-lived V4 signed URLs when the credentials can sign, else streamed through the API.

``STORAGE_EMULATOR_HOST`` points the client at an emulator; it then talks anonymously, and a
key file (``credentials_file``), if given, is used only to sign URLs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.api_core import exceptions as api_exceptions
from google.cloud.storage import Client as StorageClient
from google.cloud.storage.retry import DEFAULT_RETRY, DEFAULT_RETRY_IF_GENERATION_SPECIFIED
from google.oauth2 import service_account

from domain.adapters.media import MediaMissing, MediaStoreUnavailable, checked_key

log = logging.getLogger(__name__)

SIGNED_URL_TTL: Final = timedelta(minutes=5)
READ_CHUNK_BYTES: Final = 4 * 1024 * 1024  # one ranged request each; bounds memory per stream
TIMEOUT_S: Final = 30.0
_RETRY: Final = DEFAULT_RETRY.with_timeout(TIMEOUT_S)
_PUT_RETRY: Final = DEFAULT_RETRY_IF_GENERATION_SPECIFIED
_UNAVAILABLE: Final = (
    api_exceptions.GoogleAPIError,
    google.auth.exceptions.GoogleAuthError,
    requests.RequestException,
)


class UrlSigner:
    """Signs download URLs with a private key, or through IAM ``signBlob`` with the access token
    of a keyless service account (Cloud Run); the latter needs Google's network."""

    def __init__(self, credentials: google.auth.credentials.Credentials) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()

    def arguments(self) -> dict[str, Any]:
        credentials = self._credentials
        if isinstance(credentials, google.auth.credentials.Signing):
            return {"credentials": credentials}
        with self._lock:
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
            return {
                "service_account_email": getattr(credentials, "service_account_email", None),
                "access_token": credentials.token,
            }


def signer_for(credentials: google.auth.credentials.Credentials | None) -> UrlSigner | None:
    if isinstance(credentials, google.auth.credentials.Signing) or hasattr(
        credentials, "service_account_email"
    ):
        return UrlSigner(credentials)  # type: ignore[arg-type]
    return None


class GcsMediaStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        signer: UrlSigner | None = None,
        signed_url_ttl: timedelta = SIGNED_URL_TTL,
        read_chunk_bytes: int = READ_CHUNK_BYTES,
    ) -> None:
        self._chunk_bytes = read_chunk_bytes
        self._client = client
        self._bucket = client.bucket(bucket)
        self._prefix = prefix.strip("/")
        self._signer = signer
        self._ttl = signed_url_ttl

    def name_of(self, key: str) -> str:
        key = checked_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def staging_dir(self) -> Path | None:
        return None

    def put_file(self, key: str, path: Path, content_type: str) -> bool:
        return self._put(
            key, content_type, lambda blob, **kw: blob.upload_from_filename(path, **kw)
        )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> bool:
        return self._put(key, content_type, lambda blob, **kw: blob.upload_from_string(data, **kw))

    def _put(self, key: str, content_type: str, upload: Any) -> bool:
        name = self.name_of(key)
        try:
            if self._bucket.get_blob(name, timeout=TIMEOUT_S, retry=_RETRY) is not None:
                return False  # these bytes are stored already
            blob = self._bucket.blob(name)
            # Generation 0 = "only if absent": a concurrent writer of the same bytes wins once.
            upload(
                blob,
                content_type=content_type,
                if_generation_match=0,
                timeout=TIMEOUT_S,
                retry=_PUT_RETRY,
            )
        except api_exceptions.PreconditionFailed:
            return False
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None
        return True

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        blob = self._bucket.blob(self.name_of(key))
        stop = end if end is not None else self._size(blob)
        first_end = min(stop, start + self._chunk_bytes)
        first = self._download(blob, start, first_end) if first_end > start else b""
        return self._chunks(blob, first, first_end, stop)

    def _chunks(self, blob: Any, first: bytes, position: int, stop: int) -> Iterator[bytes]:
        if first:
            yield first
        while position < stop:
            chunk_end = min(stop, position + self._chunk_bytes)
            yield self._download(blob, position, chunk_end)
            position = chunk_end

    def _size(self, blob: Any) -> int:
        with _reading():
            blob.reload(timeout=TIMEOUT_S, retry=_RETRY)
        return int(blob.size or 0)

    def _download(self, blob: Any, start: int, end: int) -> bytes:
        with _reading():
            data: bytes = blob.download_as_bytes(
                start=start, end=end - 1, timeout=TIMEOUT_S, retry=_RETRY, checksum=None
            )
        return data

    def signed_url(self, key: str, *, content_type: str, filename: str) -> str | None:
        if self._signer is None:
            return None
        blob = self._bucket.blob(self.name_of(key))
        try:
            url: str = blob.generate_signed_url(
                version="v4",
                expiration=self._ttl,
                method="GET",
                response_type=content_type,
                response_disposition=f'inline; filename="{filename}"',
                **self._signer.arguments(),
            )
        except (*_UNAVAILABLE, AttributeError, ValueError) as error:
            # Streaming through the API still works; say once per failure why it is needed.
            log.warning("cannot sign a media URL, streaming instead: %s", error)
            return None
        return url

    def keys(self) -> Iterator[str]:
        prefix = f"{self._prefix}/" if self._prefix else ""
        try:
            for blob in self._client.list_blobs(
                self._bucket, prefix=prefix + "sha256/", timeout=TIMEOUT_S, retry=_RETRY
            ):
                yield blob.name[len(prefix) :]
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None

    def close(self) -> None:
        self._client.close()


def _unavailable(error: Exception) -> MediaStoreUnavailable:
    return MediaStoreUnavailable("the media store is unavailable", reason=str(error))


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Reading an object: missing -> MediaMissing (404), unreachable -> 503."""
    try:
        yield
    except api_exceptions.NotFound:
        raise MediaMissing("media not found") from None
    except _UNAVAILABLE as error:
        raise _unavailable(error) from None


def open_gcs_store(
    bucket: str,
    prefix: str,
    *,
    project: str | None = None,
    credentials_file: Path | None = None,
    signed_urls: bool = False,
) -> GcsMediaStore:
    """A client for the bucket: the emulator (anonymous), a key file, or the default account."""
    credentials: google.auth.credentials.Credentials | None = None
    if credentials_file is not None:
        credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(credentials_file)
        )
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The client talks to the emulator anonymously; a key file only signs URLs.
        client = StorageClient(project=project or "local")
    else:
        if credentials is None:
            credentials, default_project = google.auth.default()
            project = project or default_project
        client = StorageClient(project=project, credentials=credentials)
    signer = signer_for(credentials) if signed_urls else None
    return GcsMediaStore(client, bucket, prefix, signer=signer)
