"""The request body cap (GAIA_MAX_BODY_BYTES, 1 MiB by default): a body over it is refused 413
``body_too_large`` before authentication and before the app parses any of it, from the declared
length at once and while a chunked body streams; a refused body writes nothing. Media uploads
keep their own, larger limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.e2e.conftest import PLAYER, Table, seat_table
from tests.support.api import Service, running
from tests.support.media import MULTIPART_TYPE, multipart, png_of_size, raw_request, status_of
from tests.support.stores import StoreConfig

CAP = 1024 * 1024  # the default


@pytest.fixture
def anonymous_target(sqlite_store: StoreConfig) -> Iterator[Service]:
    """The service for requests that never get past the cap (the store plays no part)."""
    with running(sqlite_store) as svc:
        yield svc


def head(path: str, *headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return "\r\n".join([*lines, *headers])


def error_of(answer: bytes) -> dict[str, object]:
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert isinstance(body, dict)
    error = body["error"]
    assert isinstance(error, dict)
    return error


def turn_body(size: int, **fields: object) -> bytes:
    """A turn's JSON, padded with trailing whitespace to exactly ``size`` bytes."""
    body = json.dumps({"text": "I climb the wall", **fields}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def player_auth(service: Service) -> str:
    return f"Authorization: {service.headers(PLAYER)['Authorization']}"


def test_an_anonymous_body_declared_over_the_cap_is_refused_before_it_is_sent(
    anonymous_target: Service,
) -> None:
    # 200 MB declared, 1 KB sent: only an answer that reads none of it can arrive.
    path = f"/api/sessions/{uuid4()}/turns"
    answer = raw_request(
        anonymous_target.base_url, head(path, f"Content-Length: {200 * CAP}"), b"{" + b" " * 1023
    )
    assert status_of(answer) == 413
    assert error_of(answer)["code"] == "body_too_large"


def test_a_turn_body_of_exactly_the_cap_is_accepted(service: Service) -> None:
    sid = seat_table(service).session_id
    answer = service.call(
        "POST",
        f"/api/sessions/{sid}/turns",
        PLAYER,
        content=turn_body(CAP),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text


def test_a_members_huge_extra_field_is_refused_and_writes_nothing(service: Service) -> None:
    table: Table = seat_table(service)
    service.narrated()
    before = service.version(table.session_id)
    answer = service.call(
        "POST",
        f"/api/sessions/{table.session_id}/turns",
        PLAYER,
        content=turn_body(2 * CAP + 100, extra="x" * 2 * CAP),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "body_too_large"
    assert service.version(table.session_id) == before


def test_a_chunked_body_over_the_cap_is_refused_while_it_streams_and_writes_nothing(
    service: Service,
) -> None:
    table = seat_table(service)
    service.narrated()
    before = service.version(table.session_id)
    body = turn_body(CAP + 1)  # one byte over; a complete, valid turn if it were parsed
    chunks = b"".join(
        f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        for piece in (body[i : i + 65536] for i in range(0, len(body), 65536))
    )  # and never the last chunk: the answer must come from the bytes over the cap
    answer = raw_request(
        service.base_url,
        head(
            f"/api/sessions/{table.session_id}/turns",
            player_auth(service),
            "Transfer-Encoding: chunked",
        ),
        chunks,
    )
    assert status_of(answer) == 413
    assert error_of(answer)["code"] == "body_too_large"
    assert service.version(table.session_id) == before


def test_a_media_upload_over_the_body_cap_is_still_accepted_up_to_its_own_limit(
    service: Service,
) -> None:
    sid = seat_table(service).session_id
    file = png_of_size(3 * CAP)  # over the body cap, under GAIA_MAX_UPLOAD_BYTES (10 MiB)
    answer = service.call(
        "POST",
        f"/api/sessions/{sid}/media",
        PLAYER,
        content=multipart(file),
        headers={"Content-Type": MULTIPART_TYPE},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == len(file)
