"""Who may call the timeline routes: each against owner, player, spectator, a non-member and an
anonymous caller, with the exact status each gets (the pattern of test_route_access.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import STRANGER, seat_table
from tests.support.access import CALLERS, call_as
from tests.support.api import Service

READ = {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401}

# route name -> (method, path template, json body, expected status per caller). The seated table
# is quiet at version 5 (two members joined, no turn yet), so rewinding there is valid.
ROUTES: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "timeline": ("GET", "/api/sessions/{sid}/timeline", None, READ),
    "timeline by type": ("GET", "/api/sessions/{sid}/timeline?types=TurnSubmitted", None, READ),
    "state": ("GET", "/api/sessions/{sid}/state?at_version=3", None, READ),
    "export": ("GET", "/api/sessions/{sid}/export", None, READ),
    "rewind": (
        "POST",
        "/api/sessions/{sid}/rewind",
        {"to_version": 5},
        {"owner": 200, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "fork": (
        "POST",
        "/api/sessions/{sid}/fork",
        {"at_version": 5},
        {"owner": 201, "player": 201, "spectator": 201, "stranger": 404, "anonymous": 401},
    ),
}

CASES = [(route, caller) for route in ROUTES for caller in CALLERS]


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{r}-{c}" for r, c in CASES])
def test_timeline_route_answers_each_caller_with_the_expected_status(
    service: Service, route: str, caller: str
) -> None:
    table = seat_table(service)
    method, template, body, expected = ROUTES[route]
    path = template.format(sid=table.session_id)
    before = service.version(table.session_id)
    response = call_as(service, caller, method, path, json=body)
    assert response.status_code == expected[caller], response.text
    if method == "GET" or route == "fork":
        assert service.version(table.session_id) == before  # the session itself is untouched


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_non_member_cannot_tell_whether_the_session_exists(service: Service, route: str) -> None:
    table = seat_table(service)
    method, template, body, _ = ROUTES[route]
    real = service.call(method, template.format(sid=table.session_id), STRANGER, json=body)
    unknown_sid = "00000000-0000-4000-8000-000000000000"
    unknown = service.call(method, template.format(sid=unknown_sid), STRANGER, json=body)
    malformed = service.call(method, template.format(sid="not-a-uuid"), STRANGER, json=body)
    assert real.status_code == unknown.status_code == malformed.status_code == 404
    assert real.json()["error"]["code"] == unknown.json()["error"]["code"]
