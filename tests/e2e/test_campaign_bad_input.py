"""Bad character sheets are refused with a 4xx JSON error and write nothing, on both stores:
the same size, depth and control-character rules as every other write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


HUGE_INVENTORY = {f"item {i}": {"qty": i, "note": "x" * 100} for i in range(1000)}  # > 64 KiB

BAD_SHEETS: dict[str, tuple[dict[str, Any], str]] = {
    "oversized inventory": ({"name": "Ivo", "inventory": HUGE_INVENTORY}, "inventory_too_large"),
    "nul in the name": ({"name": "Iv\u0000o"}, "invalid_request"),
    "escape in the class": ({"name": "Ivo", "character_class": "\u001b[31m"}, "invalid_request"),
    "hit points as a string": ({"name": "Ivo", "hit_points_current": "12"}, "invalid_request"),
    "hit points as a float": ({"name": "Ivo", "hit_points_max": 12.0}, "invalid_request"),
    "level out of range": ({"name": "Ivo", "level": 10**9}, "invalid_request"),
    "no name": ({"level": 1}, "invalid_request"),
    # Deeper than GAIA_MAX_JSON_DEPTH (32), shallower than the parser's limit.
    "deep abilities": ({"name": "Ivo", "abilities": _nested(40)}, "abilities_too_deep"),
    "a thousand status effects": (
        {"name": "Ivo", "status_effects": ["dazed"] * 1000},
        "invalid_request",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SHEETS))
def test_a_bad_new_character_is_refused_and_nothing_is_written(
    service: Service, table: Table, case: str
) -> None:
    body, code = BAD_SHEETS[case]
    position = service.state.sessions.max_position()
    response = service.call(
        "POST", f"/api/sessions/{table.session_id}/characters", PLAYER, json=body
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
    assert service.state.sessions.max_position() == position


@pytest.mark.parametrize("case", [c for c in BAD_SHEETS if c != "no name"])
def test_a_bad_change_to_a_character_is_refused_and_nothing_is_written(
    service: Service, table: Table, case: str
) -> None:
    made = service.call(
        "POST", f"/api/sessions/{table.session_id}/characters", PLAYER, json={"name": "Ivo"}
    )
    path = f"/api/sessions/{table.session_id}/characters/{made.json()['character']['character_id']}"
    body, code = BAD_SHEETS[case]
    position = service.state.sessions.max_position()
    response = service.call("PATCH", path, OWNER, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
    assert service.state.sessions.max_position() == position
    assert service.call("GET", path, PLAYER).json()["name"] == "Ivo"


def test_clearing_a_characters_name_is_refused(service: Service, table: Table) -> None:
    made = service.call(
        "POST", f"/api/sessions/{table.session_id}/characters", PLAYER, json={"name": "Ivo"}
    )
    path = f"/api/sessions/{table.session_id}/characters/{made.json()['character']['character_id']}"
    position = service.state.sessions.max_position()
    response = service.call("PATCH", path, PLAYER, json={"name": None})
    assert response.status_code == 422
    assert service.state.sessions.max_position() == position
