"""The media store contract, on the local directory and on GCS (the emulator): content-addressed
writes stored once, ranged reads, and keys that cannot name anything outside the store."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from google.auth.credentials import Credentials
from google.cloud.storage import Client
from google.oauth2 import service_account

from domain.adapters.gcs_media import GcsMediaStore, UrlSigner
from domain.adapters.media import STALE_STAGING_S, LocalMediaStore, MediaMissing, MediaStore
from domain.media import storage_key
from tests.support.gcs import BUCKET, SIGNER_EMAIL
from tests.support.media import PNG, png_of_size, sha256

KEY = storage_key(sha256(PNG))
CHUNK = 64 * 1024
HOSTILE_KEYS = [
    "../outside",
    f"sha256/{KEY[7:9]}/../../outside",
    "/etc/passwd",
    "sha256\\..\\..\\outside",
    KEY + "\x00",
    KEY.upper(),
    "x" * 5000,
]


@pytest.fixture(params=["local", "gcs"])
def media_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MediaStore]:
    """A fresh, empty store of each kind."""
    # Small read chunks, so that reads cross chunk boundaries.
    if request.param == "local":
        store: MediaStore = LocalMediaStore(tmp_path / "media", chunk_bytes=CHUNK)
    else:
        request.getfixturevalue("gcs_emulator")
        prefix = f"t-{secrets.token_hex(6)}"
        store = GcsMediaStore(Client(project="test"), BUCKET, prefix, read_chunk_bytes=CHUNK)
    yield store
    store.close()


def test_new_bytes_are_stored_once_under_their_digest(
    media_store: MediaStore, tmp_path: Path
) -> None:
    source = tmp_path / "upload"
    source.write_bytes(PNG)
    assert media_store.put_file(KEY, source, "image/png") is True
    assert media_store.put_file(KEY, source, "image/png") is False
    assert media_store.put_bytes(KEY, PNG, "image/png") is False
    assert list(media_store.keys()) == [KEY]
    assert source.read_bytes() == PNG  # the caller's file is left alone


def test_stored_bytes_read_back_whole_or_in_part(media_store: MediaStore) -> None:
    data = png_of_size(5 * CHUNK + 123)
    key = storage_key(sha256(data))
    media_store.put_bytes(key, data, "image/png")
    chunks = list(media_store.read(key))
    assert b"".join(chunks) == data
    assert max(len(chunk) for chunk in chunks) == CHUNK
    assert b"".join(media_store.read(key, 1000, 3 * CHUNK + 7)) == data[1000 : 3 * CHUNK + 7]
    assert b"".join(media_store.read(key, CHUNK - 1, CHUNK + 1)) == data[CHUNK - 1 : CHUNK + 1]
    assert b"".join(media_store.read(key, len(data) - 5)) == data[-5:]


def test_reading_a_key_with_no_object_fails_at_once(media_store: MediaStore) -> None:
    with pytest.raises(MediaMissing):
        media_store.read(storage_key("0" * 64))


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_a_key_of_any_other_shape_reads_and_writes_nothing(
    media_store: MediaStore, tmp_path: Path, key: str
) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    with pytest.raises(MediaMissing):
        media_store.read(key)
    with pytest.raises(MediaMissing):
        media_store.put_bytes(key, PNG, "image/png")
    assert outside.read_bytes() == b"secret"
    assert list(media_store.keys()) == []


def test_gcs_does_not_rewrite_an_object_that_exists(gcs_emulator: str) -> None:
    client = Client(project="test")
    prefix = f"t-{secrets.token_hex(6)}"
    store = GcsMediaStore(client, BUCKET, prefix)
    store.put_bytes(KEY, PNG, "image/png")
    blob = client.bucket(BUCKET).get_blob(f"{prefix}/{KEY}")
    store.put_bytes(KEY, PNG, "image/png")
    again = client.bucket(BUCKET).get_blob(f"{prefix}/{KEY}")
    assert (again.generation, again.content_type) == (blob.generation, "image/png")
    store.close()


def test_gcs_signs_a_five_minute_download_url_that_serves_the_bytes(
    gcs_emulator: str, gcs_signing_key: Path
) -> None:
    key_credentials: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(gcs_signing_key)
    )
    store = GcsMediaStore(
        Client(project="test"),
        BUCKET,
        f"t-{secrets.token_hex(6)}",
        signer=UrlSigner(key_credentials),
    )
    store.put_bytes(KEY, PNG, "image/png")
    url = store.signed_url(KEY, content_type="image/png", filename="map.png")
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
    assert query["X-Goog-Expires"] == ["300"]
    assert query["X-Goog-SignedHeaders"] == ["host"]
    assert query["X-Goog-Credential"][0].startswith(SIGNER_EMAIL + "/")
    assert query["response-content-type"] == ["image/png"]
    assert httpx.get(url).content == PNG
    store.close()


def test_a_store_without_a_signer_streams_instead_of_signing(media_store: MediaStore) -> None:
    media_store.put_bytes(KEY, PNG, "image/png")
    assert media_store.signed_url(KEY, content_type="image/png", filename="x.png") is None


def test_the_local_store_sweeps_staging_files_a_crash_left_behind(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = LocalMediaStore(root)
    stale, fresh = store.staging_dir() / "upload-stale", store.staging_dir() / "upload-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    old = time.time() - STALE_STAGING_S - 60
    os.utime(stale, (old, old))
    LocalMediaStore(root)
    assert not stale.exists()
    assert fresh.exists()


def test_the_local_store_uses_the_tree_the_migration_writes(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media")
    store.put_bytes(KEY, PNG, "image/png")
    assert (tmp_path / "media" / "sha256" / KEY[7:9] / sha256(PNG)).read_bytes() == PNG
