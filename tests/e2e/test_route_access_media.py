"""Who may call the media routes: each against owner, player, spectator, a non-member and an
anonymous caller, with the exact status each gets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OWNER, seat_table
from tests.support.access import CALLERS, call_as
from tests.support.api import Service
from tests.support.media import PNG

READ = {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401}

# route name -> (method, path template, request options, expected status per caller)
ROUTES: dict[str, tuple[str, str, dict[str, Any], dict[str, int]]] = {
    "upload": (
        "POST",
        "/api/sessions/{sid}/media",
        {"files": {"file": ("map.png", PNG, "image/png")}},
        {"owner": 201, "player": 201, "spectator": 403, "stranger": 404, "anonymous": 401},
    ),
    "media by id": ("GET", "/api/media/{sid}/image/{mid}", {}, READ),
    "image by name": ("GET", "/api/images/{filename}", {}, READ),
    "media ticket": ("POST", "/api/sessions/{sid}/media-ticket", {}, READ),
}

CASES = [(route, caller) for route in ROUTES for caller in CALLERS]


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{r}-{c}" for r, c in CASES])
def test_media_route_answers_each_caller_with_the_expected_status(
    service: Service, route: str, caller: str
) -> None:
    table = seat_table(service)
    stored = service.call(
        "POST",
        f"/api/sessions/{table.session_id}/media",
        OWNER,
        files={"file": ("seen.png", PNG + b"seen", "image/png")},
    ).json()
    method, template, options, expected = ROUTES[route]
    path = template.format(
        sid=table.session_id, mid=stored["media_id"], filename=stored["filename"]
    )
    response = call_as(service, caller, method, path, **options)
    assert response.status_code == expected[caller], response.text
    if response.status_code == 200 and method == "GET":
        assert response.content == PNG + b"seen"
