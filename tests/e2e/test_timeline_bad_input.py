"""Bad input to the timeline routes gets a clear 4xx JSON error and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service

HEAD = 8  # the seated table's version: start, two invites and joins, a turn, its reply, an invite

BAD_REWINDS: dict[str, tuple[dict[str, Any], int, str]] = {
    "to_version as a string": ({"json": {"to_version": "5"}}, 422, "invalid_request"),
    "to_version as a float": ({"json": {"to_version": 5.5}}, 422, "invalid_request"),
    "to_version as a boolean": ({"json": {"to_version": True}}, 422, "invalid_request"),
    "to_version null": ({"json": {"to_version": None}}, 422, "invalid_request"),
    "to_version missing": ({"json": {}}, 422, "invalid_request"),
    "body not an object": ({"json": [5]}, 422, "invalid_request"),
    "malformed json": (
        {"content": b'{"to_version": 5', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    "negative": ({"json": {"to_version": -1}}, 422, "invalid_rewind"),
    "zero": ({"json": {"to_version": 0}}, 422, "invalid_rewind"),
    "the current version": ({"json": {"to_version": HEAD}}, 422, "invalid_rewind"),
    "beyond the stream": ({"json": {"to_version": HEAD + 1}}, 422, "invalid_rewind"),
    "far beyond any int64": ({"json": {"to_version": 10**30}}, 422, "invalid_rewind"),
    "a turn waits there": ({"json": {"to_version": 6}}, 422, "invalid_rewind"),
}


@pytest.mark.parametrize("case", list(BAD_REWINDS), ids=list(BAD_REWINDS))
def test_a_bad_rewind_is_refused_and_writes_nothing(
    service: Service, table: Table, case: str
) -> None:
    kwargs, status, code = BAD_REWINDS[case]
    assert service.version(table.session_id) == HEAD
    position = service.state.sessions.max_position()
    response = service.call("POST", f"/api/sessions/{table.session_id}/rewind", OWNER, **kwargs)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert response.json()["error"]["message"]
    assert service.state.sessions.max_position() == position


def test_rewinding_into_a_hidden_range_is_refused(service: Service, table: Table) -> None:
    sid = table.session_id
    assert (
        service.call(
            "POST", f"/api/sessions/{sid}/rewind", OWNER, json={"to_version": 5}
        ).status_code
        == 200
    )
    position = service.state.sessions.max_position()
    response = service.call("POST", f"/api/sessions/{sid}/rewind", OWNER, json={"to_version": 7})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_rewind"
    assert service.state.sessions.max_position() == position


BAD_FORKS: dict[str, tuple[dict[str, Any], int, str]] = {
    "at_version as a string": ({"json": {"at_version": "5"}}, 422, "invalid_request"),
    "at_version as a float": ({"json": {"at_version": 2.0}}, 422, "invalid_request"),
    "negative": ({"json": {"at_version": -3}}, 422, "invalid_fork_point"),
    "zero": ({"json": {"at_version": 0}}, 422, "invalid_fork_point"),
    "beyond the stream": ({"json": {"at_version": HEAD + 1}}, 422, "invalid_fork_point"),
    "a turn waits there": ({"json": {"at_version": 6}}, 422, "invalid_fork_point"),
    "blank title": ({"json": {"title": "   "}}, 422, "invalid_request"),
    "overlong title": ({"json": {"title": "t" * 201}}, 422, "invalid_request"),
    "body not an object": ({"json": "fork"}, 422, "invalid_request"),
}


@pytest.mark.parametrize("case", list(BAD_FORKS), ids=list(BAD_FORKS))
def test_a_bad_fork_is_refused_and_creates_nothing(
    service: Service, table: Table, case: str
) -> None:
    kwargs, status, code = BAD_FORKS[case]
    position = service.state.sessions.max_position()
    response = service.call("POST", f"/api/sessions/{table.session_id}/fork", PLAYER, **kwargs)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert service.state.sessions.max_position() == position


BAD_READS: dict[str, tuple[str, dict[str, Any], str]] = {
    "state without at_version": ("state", {}, "invalid_request"),
    "state at_version not a number": ("state", {"at_version": "x"}, "invalid_request"),
    "state at_version zero": ("state", {"at_version": 0}, "version_out_of_range"),
    "state at_version negative": ("state", {"at_version": -2}, "version_out_of_range"),
    "state at_version beyond": ("state", {"at_version": HEAD + 1}, "version_out_of_range"),
    "state limit zero": ("state", {"at_version": 2, "limit": 0}, "invalid_request"),
    "state limit too large": ("state", {"at_version": 2, "limit": 501}, "invalid_request"),
    "state after not a number": ("state", {"at_version": 2, "after": "x"}, "invalid_request"),
    "state history not a boolean": (
        "state",
        {"at_version": 2, "history": "maybe"},
        "invalid_request",
    ),
    "timeline limit zero": ("timeline", {"limit": 0}, "invalid_request"),
    "timeline limit too large": ("timeline", {"limit": 501}, "invalid_request"),
    "timeline limit not a number": ("timeline", {"limit": "all"}, "invalid_request"),
    "timeline after negative": ("timeline", {"after": -1}, "invalid_request"),
    "timeline unknown type": (
        "timeline",
        {"types": "TurnSubmitted,Teleported"},
        "unknown_event_type",
    ),
    "timeline type in the wrong case": (
        "timeline",
        {"types": "turnsubmitted"},
        "unknown_event_type",
    ),
}


@pytest.mark.parametrize("case", list(BAD_READS), ids=list(BAD_READS))
def test_a_bad_read_is_refused_with_a_clear_code(service: Service, table: Table, case: str) -> None:
    route, params, code = BAD_READS[case]
    response = service.call(
        "GET", f"/api/sessions/{table.session_id}/{route}", PLAYER, params=params
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_an_unknown_type_names_the_known_ones(service: Service, table: Table) -> None:
    response = service.call(
        "GET", f"/api/sessions/{table.session_id}/timeline", PLAYER, params={"types": "Nope"}
    )
    details = response.json()["error"]["details"]
    assert details["unknown"] == ["Nope"]
    assert "TurnSubmitted" in details["known"]


def test_state_beyond_the_stream_names_the_current_version(service: Service, table: Table) -> None:
    response = service.call(
        "GET", f"/api/sessions/{table.session_id}/state", PLAYER, params={"at_version": 99}
    )
    assert response.json()["error"]["details"] == {"at_version": 99, "current_version": HEAD}
