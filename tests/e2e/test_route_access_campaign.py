"""Who may call the campaign-state routes: each against owner, player, spectator, a non-member
and an anonymous caller, with the exact status each gets (the pattern of test_route_access.py);
and that a player's character sheet is hers alone to change."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OWNER, PLAYER, STRANGER, Table, seat_table
from tests.support.access import CALLERS, call_as
from tests.support.api import Service

READ = {"owner": 200, "player": 200, "spectator": 200, "stranger": 404, "anonymous": 401}
CREATE = {"owner": 201, "player": 201, "spectator": 403, "stranger": 404, "anonymous": 401}
OWNER_ONLY_CREATE = {
    "owner": 201,
    "player": 403,
    "spectator": 403,
    "stranger": 404,
    "anonymous": 401,
}
EDIT_PLAYERS = {"owner": 200, "player": 200, "spectator": 403, "stranger": 404, "anonymous": 401}
EDIT_OWNERS = {"owner": 200, "player": 403, "spectator": 403, "stranger": 404, "anonymous": 401}

# route name -> (method, path template, json body, expected status per caller). ``{mine}`` is a
# character of the player, ``{gm}`` one of the owner.
ROUTES: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "campaign": ("GET", "/api/sessions/{sid}/campaign", None, READ),
    "characters": ("GET", "/api/sessions/{sid}/characters", None, READ),
    "character": ("GET", "/api/sessions/{sid}/characters/{mine}", None, READ),
    "create": ("POST", "/api/sessions/{sid}/characters", {"name": "Ivo", "level": 1}, CREATE),
    "create npc": (
        "POST",
        "/api/sessions/{sid}/characters",
        {"name": "Ferryman", "kind": "npc"},
        OWNER_ONLY_CREATE,
    ),
    "change the player's": (
        "PATCH",
        "/api/sessions/{sid}/characters/{mine}",
        {"hit_points_current": 4},
        EDIT_PLAYERS,
    ),
    "change the owner's": (
        "PATCH",
        "/api/sessions/{sid}/characters/{gm}",
        {"hit_points_current": 4},
        EDIT_OWNERS,
    ),
    "retire the player's": (
        "PATCH",
        "/api/sessions/{sid}/characters/{mine}",
        {"retired": True},
        EDIT_PLAYERS,
    ),
}

CASES = [(route, caller) for route in ROUTES for caller in CALLERS]


def seat_party(service: Service) -> tuple[Table, str, str]:
    """The seated table with a character of the player and one of the owner."""
    table = seat_table(service)
    path = f"/api/sessions/{table.session_id}/characters"
    mine = service.call("POST", path, PLAYER, json={"name": "Mira", "hit_points_current": 9})
    gm = service.call("POST", path, OWNER, json={"name": "Old Tom"})
    assert mine.status_code == gm.status_code == 201, (mine.text, gm.text)
    return table, mine.json()["character"]["character_id"], gm.json()["character"]["character_id"]


def _path(template: str, sid: str, mine: str, gm: str) -> str:
    return template.format(sid=sid, mine=mine, gm=gm)


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{r}-{c}" for r, c in CASES])
def test_campaign_route_answers_each_caller_with_the_expected_status(
    service: Service, route: str, caller: str
) -> None:
    table, mine, gm = seat_party(service)
    method, template, body, expected = ROUTES[route]
    before = service.version(table.session_id)
    response = call_as(
        service, caller, method, _path(template, table.session_id, mine, gm), json=body
    )
    assert response.status_code == expected[caller], response.text
    written = service.version(table.session_id) - before
    assert written == (1 if method != "GET" and response.status_code < 300 else 0)


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_non_member_cannot_tell_whether_the_session_exists(service: Service, route: str) -> None:
    table, mine, gm = seat_party(service)
    method, template, body, _ = ROUTES[route]
    real = service.call(method, _path(template, table.session_id, mine, gm), STRANGER, json=body)
    unknown_sid = "00000000-0000-4000-8000-000000000000"
    unknown = service.call(method, _path(template, unknown_sid, mine, gm), STRANGER, json=body)
    assert real.status_code == unknown.status_code == 404
    assert real.content == unknown.content


def test_a_player_cannot_change_another_players_character(service: Service) -> None:
    table, _, gm = seat_party(service)
    before = service.version(table.session_id)
    path = f"/api/sessions/{table.session_id}/characters/{gm}"
    response = service.call("PATCH", path, PLAYER, json={"name": "Stolen"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_your_character"
    assert service.version(table.session_id) == before
    assert service.call("GET", path, PLAYER).json()["name"] == "Old Tom"


def test_the_campaign_lists_each_character_with_its_owner(service: Service) -> None:
    table, mine, gm = seat_party(service)
    doc = service.call("GET", f"/api/sessions/{table.session_id}/campaign", OWNER).json()
    owners = {c["character_id"]: (c["owner"], c["name"]) for c in doc["characters"]}
    assert owners == {mine: (PLAYER, "Mira"), gm: (OWNER, "Old Tom")}


def test_an_unknown_character_answers_404_to_a_member(service: Service) -> None:
    table, _, _ = seat_party(service)
    path = f"/api/sessions/{table.session_id}/characters/pc:nobody"
    assert service.call("GET", path, PLAYER).status_code == 404
    changed = service.call("PATCH", path, OWNER, json={"level": 2})
    assert changed.status_code == 404


def test_a_turn_may_name_only_one_of_the_callers_characters(service: Service) -> None:
    table, mine, gm = seat_party(service)
    path = f"/api/sessions/{table.session_id}/turns"
    before = service.version(table.session_id)
    for character_id in (gm, "pc:nobody"):
        refused = service.call(
            "POST", path, PLAYER, json={"text": "I strike", "character_id": character_id}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "unknown_character"
    assert service.version(table.session_id) == before
    accepted = service.call("POST", path, PLAYER, json={"text": "I strike", "character_id": mine})
    assert accepted.status_code == 202, accepted.text
    history = service.call("GET", f"/api/sessions/{table.session_id}/history", PLAYER).json()
    last_turn = [m for m in history["messages"] if m["role"] == "player"][-1]
    assert last_turn["character"] == {"id": mine, "name": "Mira"}


def test_a_turn_with_only_a_character_name_is_a_free_label(service: Service) -> None:
    table, _, _ = seat_party(service)
    path = f"/api/sessions/{table.session_id}/turns"
    accepted = service.call("POST", path, PLAYER, json={"text": "Hi", "character_name": "Player"})
    assert accepted.status_code == 202, accepted.text


def test_a_retired_character_can_no_longer_be_played(service: Service) -> None:
    table, mine, _ = seat_party(service)
    sid = table.session_id
    retired = service.call(
        "PATCH", f"/api/sessions/{sid}/characters/{mine}", PLAYER, json={"retired": True}
    )
    assert retired.status_code == 200
    assert retired.json()["character"]["retired"] is True
    turn = service.call(
        "POST", f"/api/sessions/{sid}/turns", PLAYER, json={"text": "I go", "character_id": mine}
    )
    assert turn.status_code == 422
