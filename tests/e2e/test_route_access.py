"""Who may call what: every session-scoped route against owner, player, spectator, a non-member
and an anonymous caller, with the exact status each gets."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.e2e.conftest import OWNER, PLAYER, STRANGER, seat_table
from tests.support.access import CALLERS, call_as
from tests.support.api import Service

# route name -> (method, path template, json body, expected status per caller)
ROUTES: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "read session": (
        "GET",
        "/api/sessions/{sid}",
        None,
        {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401},
    ),
    "rename": (
        "PATCH",
        "/api/sessions/{sid}",
        {"title": "Renamed"},
        {"owner": 200, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "submit turn": (
        "POST",
        "/api/sessions/{sid}/turns",
        {"text": "I wait"},
        {"owner": 202, "player": 202, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "history": (
        "GET",
        "/api/sessions/{sid}/history",
        None,
        {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401},
    ),
    "retry": (
        "POST",
        "/api/sessions/{sid}/turns/{tid}/retry",
        None,
        {"owner": 202, "player": 202, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "create invite": (
        "POST",
        "/api/sessions/{sid}/invites",
        {"role": "spectator"},
        {"owner": 201, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "list invites": (
        "GET",
        "/api/sessions/{sid}/invites",
        None,
        {"owner": 200, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "revoke invite": (
        "DELETE",
        "/api/sessions/{sid}/invites/{invite}",
        None,
        {"owner": 204, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "change role": (
        "PATCH",
        "/api/sessions/{sid}/members/user-spectator",
        {"role": "player"},
        {"owner": 200, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    # The spectator removing themself is leaving, which any member may do.
    "remove member": (
        "DELETE",
        "/api/sessions/{sid}/members/user-spectator",
        None,
        {"owner": 204, "player": 403, "spectator": 204, "stranger": 404, "anonymous": 401},
    ),
    "members": (
        "GET",
        "/api/sessions/{sid}/members",
        None,
        {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401},
    ),
}

CASES = [(route, caller) for route in ROUTES for caller in CALLERS]


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{r}-{c}" for r, c in CASES])
def test_route_answers_each_caller_with_the_expected_status(
    service: Service, route: str, caller: str
) -> None:
    table = seat_table(service)
    method, template, body, expected = ROUTES[route]
    path = template.format(sid=table.session_id, tid=table.turn_id, invite=table.invite_id)
    response = call_as(service, caller, method, path, json=body)
    assert response.status_code == expected[caller], response.text


def test_a_non_member_cannot_tell_a_session_exists(service: Service) -> None:
    table = seat_table(service)
    real = service.call("GET", f"/api/sessions/{table.session_id}", STRANGER)
    unknown = service.call("GET", "/api/sessions/00000000-0000-4000-8000-000000000000", STRANGER)
    malformed = service.call("GET", "/api/sessions/not-a-uuid", STRANGER)
    assert real.status_code == unknown.status_code == malformed.status_code == 404
    assert real.json()["error"]["code"] == unknown.json()["error"]["code"]


def test_a_write_let_through_on_a_view_behind_the_stream_is_refused_by_the_write(
    service: Service,
) -> None:
    """The player write routes let a caller through on the view this process last folded
    (api/deps.py ``_acting``); a demotion or removal that view has not seen yet is refused by
    the write itself, with the answer the access check gives, and writes nothing."""
    table = seat_table(service)
    sid, state = UUID(table.session_id), service.state

    def role_in_view() -> str | None:
        return state.views.cached(sid, lambda view: view.role_of(PLAYER))

    turn_path = f"/api/sessions/{sid}/turns"
    retry_path = f"/api/sessions/{sid}/turns/{table.turn_id}/retry"
    state.sessions.change_role(session_id=sid, actor=OWNER, user_id=PLAYER, role="spectator")
    version = service.version(str(sid))
    assert role_in_view() == "player"  # the view has not seen the demotion
    for path, body in ((turn_path, {"text": "I draw"}), (retry_path, None)):
        refused = service.call("POST", path, PLAYER, json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        assert refused.json()["error"]["details"] == {"needed": "player"}
    assert service.version(str(sid)) == version

    state.sessions.change_role(session_id=sid, actor=OWNER, user_id=PLAYER, role="player")
    state.sessions.remove_member(session_id=sid, actor=OWNER, user_id=PLAYER, block=False)
    version = service.version(str(sid))
    assert role_in_view() == "player"
    for path, body in ((turn_path, {"text": "I draw"}), (retry_path, None)):
        refused = service.call("POST", path, PLAYER, json=body)
        assert refused.status_code == 404, refused.text
        assert refused.json() == service.call("GET", f"/api/sessions/{sid}", STRANGER).json()
    assert service.version(str(sid)) == version


def test_a_write_route_reads_the_stream_where_the_view_it_holds_refuses(
    service: Service,
) -> None:
    """A caller the held view refuses is asked again of the stream's head: a player who
    joined since that view was folded is let in."""
    table = seat_table(service)
    sid, sessions = UUID(table.session_id), service.state.sessions
    token = sessions.issue_invite(session_id=sid, actor=OWNER, role="player").token
    sessions.accept_invite(token=token, user_id=STRANGER, display_name=STRANGER)
    assert service.state.views.cached(sid, lambda view: (view.version, view.role_of(STRANGER)))
    assert service.state.views.cached(sid, lambda view: view.role_of(STRANGER)) is None
    accepted = service.call("POST", f"/api/sessions/{sid}/turns", STRANGER, json={"text": "Hi"})
    assert accepted.status_code == 202, accepted.text
