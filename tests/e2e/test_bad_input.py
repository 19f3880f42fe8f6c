"""Bad input gets a clear 4xx JSON error and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service

LONG = "x" * 8001

BAD_TURNS: dict[str, tuple[dict[str, Any], int]] = {
    "empty text": ({"json": {"text": ""}}, 422),
    "blank text": ({"json": {"text": "   "}}, 422),
    "oversized text": ({"json": {"text": LONG}}, 422),
    "text of the wrong type": ({"json": {"text": 42}}, 422),
    "missing text": ({"json": {"kind": "action"}}, 422),
    "unknown kind": ({"json": {"text": "hi", "kind": "shout"}}, 422),
    "body is a list": ({"json": ["hi"]}, 422),
    "malformed json": (
        {"content": b'{"text": "hi"', "headers": {"Content-Type": "application/json"}},
        400,
    ),
    "overlong character name": ({"json": {"text": "hi", "character_name": "n" * 201}}, 422),
}


@pytest.mark.parametrize("case", list(BAD_TURNS), ids=list(BAD_TURNS))
def test_a_bad_turn_is_refused_with_a_json_error_and_writes_nothing(
    service: Service, table: Table, case: str
) -> None:
    kwargs, status = BAD_TURNS[case]
    before = service.version(table.session_id)
    response = service.call("POST", f"/api/sessions/{table.session_id}/turns", PLAYER, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]
    assert service.version(table.session_id) == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/{sid}/turns/not-a-uuid/retry",
        "/api/sessions/{sid}/turns/00000000-0000-4000-8000-000000000000/retry",
    ],
)
def test_an_unknown_turn_id_is_not_found(service: Service, table: Table, path: str) -> None:
    before = service.version(table.session_id)
    response = service.call("POST", path.format(sid=table.session_id), PLAYER)
    assert response.status_code == 404
    assert service.version(table.session_id) == before


def test_a_blank_rename_is_refused(service: Service, table: Table) -> None:
    before = service.version(table.session_id)
    response = service.call(
        "PATCH", f"/api/sessions/{table.session_id}", OWNER, json={"title": " "}
    )
    assert response.status_code == 422
    assert service.version(table.session_id) == before


def test_a_history_limit_out_of_range_is_refused(service: Service, table: Table) -> None:
    for limit in (0, 501, "many"):
        response = service.call(
            "GET", f"/api/sessions/{table.session_id}/history", PLAYER, params={"limit": limit}
        )
        assert response.status_code == 422


def test_a_garbage_bearer_token_is_unauthorized(service: Service) -> None:
    for value in ("Bearer", "Bearer not.a.jwt", "Basic abc", "bearer  x.y.z"):
        response = service.client.get("/api/sessions", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_new_campaign_with_a_bad_title_writes_nothing(service: Service) -> None:
    response = service.call("POST", "/api/campaigns/new", OWNER, json={"title": ""})
    assert response.status_code == 422
    listed = service.call("GET", "/api/sessions", OWNER).json()
    assert listed["sessions"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/history", {"after": 10**30}),
        ("/timeline", {"after": 10**30}),
        ("/state", {"at_version": 10**30}),
    ],
)
def test_a_cursor_beyond_64_bits_is_refused_not_a_server_error(
    service: Service, table: Table, path: str, params: dict[str, int]
) -> None:
    response = service.call("GET", f"/api/sessions/{table.session_id}{path}", PLAYER, params=params)
    assert response.status_code == 422
