"""Uploading media through the API, on each event store and each media store: the bytes decide
the type, limits hold while the body streams, and a refused upload leaves no trace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from tests.e2e.conftest import OWNER, PLAYER, seat_table
from tests.support.api import Service, running
from tests.support.media import (
    MULTIPART_TYPE,
    PNG,
    SAMPLES,
    SCRIPT,
    MediaBackend,
    multipart,
    png_of_size,
    raw_request,
    sha256,
    status_of,
)
from tests.support.stores import StoreConfig

LIMIT = 256 * 1024  # the upload limit of the services that test it


def upload(service: Service, sid: str, file: bytes, /, user: str = PLAYER, **kw: Any) -> Any:
    filename = kw.pop("filename", "file.bin")
    content_type = kw.pop("content_type", "application/octet-stream")
    return service.call(
        "POST",
        f"/api/sessions/{sid}/media",
        user,
        files={"file": (filename, file, content_type)},
        **kw,
    )


def media_events(service: Service, sid: str) -> list[Any]:
    events = service.state.sessions.events.get(UUID(sid))
    return [e for e in events if type(e).__name__ == "MediaStored"]


def stored_keys(service: Service) -> list[str]:
    media = service.state.media
    assert media is not None
    return list(media.store.keys())


def staged_files(service: Service) -> list[str]:
    media = service.state.media
    assert media is not None
    staging = media.store.staging_dir()
    return [] if staging is None else [p.name for p in staging.iterdir()]


def assert_no_trace(service: Service, sid: str, version: int) -> None:
    assert service.version(sid) == version
    assert stored_keys(service) == []
    assert staged_files(service) == []


@pytest.fixture
def sid(media_service: Service) -> str:
    return seat_table(media_service).session_id


def test_every_accepted_type_is_stored_and_answered_as_its_bytes_say(
    media_service: Service, sid: str
) -> None:
    for name, (data, content_type, extension) in SAMPLES.items():
        response = upload(media_service, sid, data)
        assert response.status_code == 201, (name, response.text)
        body = response.json()
        kind = content_type.split("/")[0]
        assert body["kind"] == kind
        assert body["content_type"] == content_type
        assert body["size"] == len(data)
        assert body["sha256"] == sha256(data)
        assert body["filename"] == f"{body['media_id']}.{extension}"
        assert body["url"] == f"/api/media/{sid}/{kind}/{body['media_id']}"
        assert media_service.call("GET", body["url"], OWNER).content == data


def test_an_upload_becomes_one_event_with_the_metadata_and_never_the_bytes(
    media_service: Service, sid: str
) -> None:
    body = upload(media_service, sid, PNG, filename="map.png", content_type="image/png").json()
    [event] = media_events(media_service, sid)
    assert str(event.media_id) == body["media_id"]
    assert (event.kind, event.content_type, event.size) == ("image", "image/png", len(PNG))
    assert (event.source, event.actor, event.turn_id) == ("upload", PLAYER, None)
    assert event.storage_key == f"sha256/{body['sha256'][:2]}/{body['sha256']}"
    assert stored_keys(media_service) == [event.storage_key]
    history = media_service.call("GET", f"/api/sessions/{sid}/history", PLAYER).json()
    assert history["messages"][-1]["kind"] == "media"


def test_the_same_bytes_twice_are_one_object_and_two_events(
    media_service: Service, sid: str
) -> None:
    first = upload(media_service, sid, PNG).json()
    second = upload(media_service, sid, PNG, user=OWNER).json()
    assert first["media_id"] != second["media_id"]
    assert len(media_events(media_service, sid)) == 2
    assert len(stored_keys(media_service)) == 1


def test_a_format_mislabelled_within_its_kind_is_corrected_by_the_bytes(
    media_service: Service, sid: str
) -> None:
    response = upload(media_service, sid, PNG, filename="photo.jpg", content_type="image/jpeg")
    assert response.status_code == 201
    assert response.json()["content_type"] == "image/png"
    assert response.json()["filename"].endswith(".png")


@pytest.mark.parametrize(
    ("data", "kwargs", "status", "code"),
    [
        (PNG, {"filename": "song.mp3"}, 422, "media_type_mismatch"),
        (PNG, {"content_type": "audio/mpeg"}, 422, "media_type_mismatch"),
        (PNG, {"data": {"kind": "audio"}}, 422, "media_type_mismatch"),
        (
            SCRIPT,
            {"filename": "map.png", "content_type": "image/png"},
            415,
            "unsupported_media_type",
        ),
        (
            b"",
            {"filename": "empty.png", "content_type": "image/png"},
            415,
            "unsupported_media_type",
        ),
        (PNG, {"data": {"kind": "video"}}, 422, "invalid_kind"),
    ],
    ids=[
        "png renamed mp3",
        "png sent as audio",
        "png as kind audio",
        "script as png",
        "empty",
        "unknown kind",
    ],
)
def test_a_refused_upload_says_why_and_leaves_neither_event_nor_object(
    media_service: Service, sid: str, data: bytes, kwargs: dict[str, Any], status: int, code: str
) -> None:
    before = media_service.version(sid)
    response = upload(media_service, sid, data, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert_no_trace(media_service, sid, before)


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b'{"file": "x"}', {"Content-Type": "application/json"}, 400, "malformed_upload"),
        (PNG, {"Content-Type": "image/png"}, 400, "malformed_upload"),
        (multipart(PNG, closing=False), {"Content-Type": MULTIPART_TYPE}, 400, "malformed_upload"),
        (b"--x--\r\n", {"Content-Type": "multipart/form-data; boundary=x"}, 422, "file_required"),
        (
            multipart(PNG).replace(b'name="file"', b'name="other"'),
            {"Content-Type": MULTIPART_TYPE},
            422,
            "file_required",
        ),
        (
            multipart(PNG),
            {"Content-Type": "multipart/form-data; boundary=" + "b" * 300},
            400,
            "malformed_upload",
        ),
    ],
    ids=["json", "raw bytes", "no closing boundary", "no parts", "no file field", "long boundary"],
)
def test_a_body_that_is_not_one_multipart_file_is_refused(
    media_service: Service,
    sid: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = media_service.version(sid)
    response = media_service.call(
        "POST", f"/api/sessions/{sid}/media", PLAYER, content=content, headers=headers
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert_no_trace(media_service, sid, before)


def test_two_files_in_one_upload_are_refused(media_service: Service, sid: str) -> None:
    before = media_service.version(sid)
    body = multipart(PNG, closing=False) + multipart(PNG)
    response = media_service.call(
        "POST",
        f"/api/sessions/{sid}/media",
        PLAYER,
        content=body,
        headers={"Content-Type": MULTIPART_TYPE},
    )
    assert response.status_code == 400
    assert_no_trace(media_service, sid, before)


# -- limits and cut-off uploads ---------------------------------------------------------------


@pytest.fixture
def limited(store: StoreConfig, media_backend: MediaBackend) -> Iterator[Service]:
    """The service with a small upload limit, on each event store and media store."""
    with running(store, max_upload_bytes=LIMIT, **media_backend.overrides) as svc:
        yield svc


def request_head(service: Service, sid: str, *headers: str) -> str:
    lines = [
        f"POST /api/sessions/{sid}/media HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: {service.headers(PLAYER)['Authorization']}",
        f"Content-Type: {MULTIPART_TYPE}",
        *headers,
    ]
    return "\r\n".join(lines)


def test_a_file_at_the_limit_is_accepted(limited: Service) -> None:
    sid = seat_table(limited).session_id
    assert upload(limited, sid, png_of_size(LIMIT)).status_code == 201


def test_a_file_over_the_limit_is_refused_and_leaves_no_trace(limited: Service) -> None:
    sid = seat_table(limited).session_id
    before = limited.version(sid)
    response = upload(limited, sid, png_of_size(LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
    assert response.json()["error"]["details"] == {"limit_bytes": LIMIT}
    assert_no_trace(limited, sid, before)


def test_a_file_over_the_limit_is_refused_before_the_rest_of_the_body_is_sent(
    limited: Service,
) -> None:
    sid = seat_table(limited).session_id
    before = limited.version(sid)
    part = multipart(png_of_size(LIMIT + 1024), closing=False)
    chunk = f"{len(part):x}\r\n".encode() + part + b"\r\n"  # and never the last chunk
    answer = raw_request(
        limited.base_url, request_head(limited, sid, "Transfer-Encoding: chunked"), chunk
    )
    assert status_of(answer) == 413
    assert_no_trace(limited, sid, before)


def test_a_declared_length_over_the_limit_is_refused_before_any_body(limited: Service) -> None:
    sid = seat_table(limited).session_id
    answer = raw_request(
        limited.base_url, request_head(limited, sid, f"Content-Length: {100 * LIMIT}")
    )
    assert status_of(answer) == 413


def test_an_upload_cut_off_midway_leaves_neither_event_nor_object(limited: Service) -> None:
    sid = seat_table(limited).session_id
    before = limited.version(sid)
    body = multipart(png_of_size(LIMIT // 2))
    raw_request(
        limited.base_url,
        request_head(limited, sid, f"Content-Length: {len(body)}"),
        body[: len(body) // 2],
        close_without_reading=True,
    )
    media = limited.state.media
    assert media is not None
    assert media.uploads.wait_for("aborted", 1, timeout=10)
    assert_no_trace(limited, sid, before)
