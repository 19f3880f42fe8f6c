"""Serving stored media to a session's members: types, ETags, ranges, hostile paths, the
file-name route of the existing client, signed GCS URLs, and nothing for anyone else.

Tests that only read share one service per media store (on the embedded event store); tests that
change membership run on each event store and each media store."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest

from domain.adapters.media import CHUNK_BYTES
from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, STRANGER, seat_table
from tests.support.api import Service, running
from tests.support.gcs import BUCKET
from tests.support.media import MP3, PNG, png_of_size, raw_request, sha256, status_of
from tests.support.stores import StoreConfig

BIG = png_of_size(CHUNK_BYTES + 300 * 1024)  # more than one read chunk
SECRET = PNG + b"TOP-SECRET"


@dataclass
class Stored:
    sid: str
    media_id: str
    filename: str
    url: str


def upload(service: Service, sid: str, data: bytes, name: str = "f.bin") -> Stored:
    response = service.call(
        "POST", f"/api/sessions/{sid}/media", PLAYER, files={"file": (name, data)}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Stored(sid, body["media_id"], body["filename"], body["url"])


@dataclass
class Reader:
    """One service per media store, shared by the tests that only read: ``big`` is stored."""

    service: Service
    big: Stored
    data_dir: Path


@pytest.fixture(scope="module", params=["local", "gcs"])
def reader(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Reader]:
    overrides: dict[str, Any] = {}
    if request.param == "gcs":
        request.getfixturevalue("gcs_emulator")
        prefix = f"reader-{tmp_path_factory.getbasetemp().name}-{secrets.token_hex(4)}"
        overrides = {"media_url": f"gs://{BUCKET}/{prefix}", "media_signed_urls": False}
    data_dir = tmp_path_factory.mktemp("reader")
    with running(StoreConfig(None, data_dir), **overrides) as service:
        yield Reader(service, upload(service, seat_table(service).session_id, BIG), data_dir)


def get(service: Service, url: str, user: str | None = PLAYER, **headers: str) -> httpx.Response:
    return service.call("GET", url, user, headers=headers)


def test_media_is_served_with_its_type_its_digest_as_etag_and_protective_headers(
    reader: Reader,
) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, SPECTATOR)
    assert response.status_code == 200
    assert response.content == BIG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Length"] == str(len(BIG))
    assert response.headers["ETag"] == f'"{sha256(BIG)}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Disposition"] == f'inline; filename="{big.filename}"'


@pytest.mark.parametrize("etag", ['"{}"', 'W/"{}"', '"other", "{}"', "*"])
def test_a_client_holding_the_same_bytes_gets_304_without_a_body(reader: Reader, etag: str) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, **{"If-None-Match": etag.format(sha256(BIG))})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == f'"{sha256(BIG)}"'


def test_a_stale_etag_gets_the_bytes(reader: Reader) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, **{"If-None-Match": '"0000"'})
    assert response.status_code == 200
    assert response.content == BIG


SIZE = len(BIG)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1000-", 1000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=100-999999999", 100, SIZE - 1),
        (f"bytes={CHUNK_BYTES - 5}-{CHUNK_BYTES + 5}", CHUNK_BYTES - 5, CHUNK_BYTES + 5),
        ("bytes=-999999999", 0, SIZE - 1),
    ],
    ids=["start", "open-ended", "suffix", "past the end", "chunk boundary", "long suffix"],
)
def test_one_range_is_served_as_partial_content(
    reader: Reader, header: str, first: int, last: int
) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, Range=header)
    assert response.status_code == 206
    assert response.content == BIG[first : last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-5", "lines=1-2", "bytes=x-"])
def test_a_range_we_do_not_serve_gets_the_whole_file(reader: Reader, header: str) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, Range=header)
    assert response.status_code == 200
    assert response.content == BIG


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_a_range_outside_the_file_is_unsatisfiable(reader: Reader, header: str) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, Range=header)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


def test_a_range_for_a_changed_entity_gets_the_whole_file(reader: Reader) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, big.url, Range="bytes=0-9", **{"If-Range": '"old"'})
    assert response.status_code == 200
    assert response.content == BIG


@pytest.mark.parametrize(
    "path",
    [
        "/api/media/{sid}/audio/{mid}",
        "/api/media/{sid}/video/{mid}",
        "/api/media/{sid}/image/00000000-0000-4000-8000-000000000000",
        "/api/media/{sid}/image/not-a-uuid",
        "/api/media/{sid}/image/{mid}.png",
        "/api/media/00000000-0000-4000-8000-000000000000/image/{mid}",
    ],
    ids=[
        "other kind",
        "no such kind",
        "unknown id",
        "malformed id",
        "with extension",
        "other session",
    ],
)
def test_a_path_that_names_no_stored_item_is_not_found(reader: Reader, path: str) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, path.format(sid=big.sid, mid=big.media_id))
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_an_image_is_found_by_its_file_name(reader: Reader) -> None:
    media_service, big = reader.service, reader.big
    response = get(media_service, f"/api/images/{big.filename}", SPECTATOR)
    assert response.status_code == 200
    assert response.content == BIG
    ranged = get(media_service, f"/api/images/{big.filename}", Range="bytes=-4")
    assert (ranged.status_code, ranged.content) == (206, BIG[-4:])


def test_audio_is_not_served_as_an_image(media_service: Service) -> None:
    audio = upload(media_service, seat_table(media_service).session_id, MP3)
    assert get(media_service, f"/api/images/{audio.filename}").status_code == 404
    assert get(media_service, audio.url).content == MP3


def test_a_non_member_gets_404_by_both_routes(reader: Reader) -> None:
    media_service, big = reader.service, reader.big
    by_id = get(media_service, big.url, STRANGER)
    by_name = get(media_service, f"/api/images/{big.filename}", STRANGER)
    unknown = get(media_service, "/api/images/no-such-image.png", STRANGER)
    assert by_id.status_code == by_name.status_code == unknown.status_code == 404
    assert by_name.json() == unknown.json()


def test_a_removed_member_can_no_longer_fetch_the_media_by_either_route(
    media_service: Service,
) -> None:
    big = upload(media_service, seat_table(media_service).session_id, PNG)
    assert get(media_service, big.url).status_code == 200
    removed = media_service.call("DELETE", f"/api/sessions/{big.sid}/members/{PLAYER}", OWNER)
    assert removed.status_code == 204
    assert get(media_service, big.url).status_code == 404
    assert get(media_service, f"/api/images/{big.filename}").status_code == 404
    left = media_service.call("DELETE", f"/api/sessions/{big.sid}/members/me", SPECTATOR)
    assert left.status_code == 204
    assert get(media_service, big.url, SPECTATOR).status_code == 404
    assert get(media_service, f"/api/images/{big.filename}", SPECTATOR).status_code == 404


def test_a_fork_member_sees_the_media_the_fork_inherited(media_service: Service) -> None:
    parent = seat_table(media_service).session_id
    image = upload(media_service, parent, PNG)
    fork = media_service.call("POST", f"/api/sessions/{parent}/fork", PLAYER, json={})
    assert fork.status_code == 201, fork.text
    child = fork.json()["session_id"]
    sessions = media_service.state.sessions
    token = sessions.issue_invite(session_id=UUID(child), actor=PLAYER).token
    sessions.accept_invite(token=token, user_id=STRANGER, display_name="newcomer")
    inherited = f"/api/media/{child}/image/{image.media_id}"
    assert get(media_service, inherited, STRANGER).content == PNG
    assert get(media_service, f"/api/images/{image.filename}", STRANGER).content == PNG
    assert get(media_service, image.url, STRANGER).status_code == 404


def test_a_name_found_only_in_other_sessions_is_looked_up_again_once_the_index_has_every_write(
    media_service: Service,
) -> None:
    """The index has the parent's row but not yet the fork's (its writes gather for a while):
    a fork member asking by name is answered from the fork's row, not refused."""
    index, sessions = media_service.state.media.index, media_service.state.sessions
    index.settle_s = 5.0
    parent = seat_table(media_service).session_id
    image = upload(media_service, parent, PNG)
    assert index.wait_for(sessions.max_position(), timeout=5)  # the parent's row is indexed
    fork = media_service.call("POST", f"/api/sessions/{parent}/fork", PLAYER, json={})
    child = fork.json()["session_id"]
    token = sessions.issue_invite(session_id=UUID(child), actor=PLAYER).token
    sessions.accept_invite(token=token, user_id=STRANGER, display_name="newcomer")
    assert index.position < sessions.max_position()  # the fork is not indexed yet
    started = time.monotonic()
    assert get(media_service, f"/api/images/{image.filename}", STRANGER).content == PNG
    assert time.monotonic() - started < 4  # it cut the gathering short, as a waiting read does


# -- hostile paths ------------------------------------------------------------------------------


HOSTILE = [
    "/api/media/{sid}/image/..%2F..%2Fsecret.png",
    "/api/media/{sid}/image/%2e%2e%2f%2e%2e%2fsecret.png",
    "/api/media/{sid}/image/../../secret.png",
    "/api/media/{sid}/%2e%2e/{mid}",
    "/api/media/{sid}/image/{mid}%00",
    "/api/media/{sid}/image/..%5C..%5Csecret.png",
    "/api/media/{sid}/image/%2Fetc%2Fpasswd",
    "/api/media/{sid}/image/" + "a" * 5000,
    "/api/media/..%2F{sid}/image/{mid}",
    "/api/images/..%2Fsecret.png",
    "/api/images/%2e%2e%2fsecret.png",
    "/api/images/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/images/%2Fetc%2Fpasswd",
    "/api/images/secret.png%00.png",
    "/api/images/..%5Csecret.png",
    "/api/images/....%2F%2Fsecret.png",
    "/api/images/.secret.png",
    "/api/images/" + "a" * 5000 + ".png",
    "/api/images/sha256%2F00%2F" + "0" * 64,
]


@pytest.mark.parametrize("path", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_path_reads_nothing_outside_the_store(reader: Reader, path: str) -> None:
    media_service, big = reader.service, reader.big
    secret = reader.data_dir / "secret.png"
    secret.write_bytes(SECRET)
    head = "\r\n".join(
        [
            f"GET {path.format(sid=big.sid, mid=big.media_id)} HTTP/1.1",
            "Host: 127.0.0.1",
            "Connection: close",
            f"Authorization: {media_service.headers(OWNER)['Authorization']}",
        ]
    )
    answer = raw_request(media_service.base_url, head)
    assert status_of(answer) in (400, 404)
    assert b"TOP-SECRET" not in answer
    assert secret.read_bytes() == SECRET


# -- signed GCS URLs ---------------------------------------------------------------------------


@pytest.fixture
def signed(
    sqlite_store: StoreConfig, gcs_emulator: str, gcs_signing_key: Path
) -> Iterator[Service]:
    """The service on GCS with a key that signs: downloads are redirected to signed URLs."""
    overrides: dict[str, Any] = {
        "media_url": f"gs://{BUCKET}/signed-{secrets.token_hex(6)}",
        "gcs_credentials_file": gcs_signing_key,
    }
    with running(sqlite_store, **overrides) as svc:
        yield svc


def test_on_gcs_a_member_is_redirected_to_a_url_signed_for_five_minutes(signed: Service) -> None:
    image = upload(signed, seat_table(signed).session_id, BIG)
    for url in (image.url, f"/api/images/{image.filename}"):
        response = get(signed, url)
        assert response.status_code == 307
        assert response.headers["Cache-Control"] == "private, no-store"
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["X-Goog-Algorithm"] == ["GOOG4-RSA-SHA256"]
        assert query["X-Goog-Expires"] == ["300"]
        assert query["X-Goog-SignedHeaders"] == ["host"]
        assert query["response-content-type"] == ["image/png"]
        # The emulator serves first-last ranges (not suffixes, which real GCS also serves).
        fetched = httpx.get(response.headers["Location"], headers={"Range": "bytes=5-14"})
        assert (fetched.status_code, fetched.content) == (206, BIG[5:15])


def test_on_gcs_a_current_etag_gets_304_and_no_redirect(signed: Service) -> None:
    image = upload(signed, seat_table(signed).session_id, PNG)
    response = get(signed, image.url, **{"If-None-Match": f'"{sha256(PNG)}"'})
    assert response.status_code == 304


def test_on_gcs_a_non_member_or_removed_member_gets_no_signed_url(signed: Service) -> None:
    image = upload(signed, seat_table(signed).session_id, PNG)
    signed.call("DELETE", f"/api/sessions/{image.sid}/members/{PLAYER}", OWNER)
    for user in (PLAYER, STRANGER):
        for url in (image.url, f"/api/images/{image.filename}"):
            response = get(signed, url, user)
            assert response.status_code == 404
            assert "Location" not in response.headers
