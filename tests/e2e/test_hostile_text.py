"""Text no player needs (NUL and other control characters, lone surrogates) is refused at the API
and by the domain; a stored event a view cannot apply is skipped and recorded, never a halt."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import Sessions
from domain.inputs import InvalidText
from domain.session import CampaignSession
from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service


def raw_json(text: str) -> dict[str, Any]:
    """A request body sent exactly as written (a lone surrogate cannot be encoded otherwise)."""
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


def refused_field(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    return [part for problem in error["details"]["problems"] for part in problem["loc"]]


BAD_TITLES = {
    "nul": {"json": {"title": "a\u0000b"}},
    "escape": {"json": {"title": "a\u001bb"}},
    "delete": {"json": {"title": "a\u007fb"}},
    "newline": {"json": {"title": "a\nb"}},
    "lone surrogate": raw_json('{"title": "a\\ud800b"}'),
}


@pytest.mark.parametrize("case", list(BAD_TITLES))
def test_a_campaign_title_with_a_control_character_is_refused(service: Service, case: str) -> None:
    response = service.call("POST", "/api/campaigns/new", OWNER, **BAD_TITLES[case])
    assert "title" in refused_field(response)
    listed = service.call("GET", "/api/sessions", OWNER).json()["sessions"]
    assert listed == []


def test_a_rename_with_a_nul_is_refused(service: Service, table: Table) -> None:
    before = service.version(table.session_id)
    response = service.call(
        "PATCH", f"/api/sessions/{table.session_id}", OWNER, json={"title": "x\u0000"}
    )
    assert "title" in refused_field(response)
    assert service.version(table.session_id) == before


def test_a_guest_display_name_with_a_nul_is_refused(service: Service) -> None:
    response = service.client.post("/api/auth/guest", json={"display_name": "Ann\u0000"})
    assert "display_name" in refused_field(response)


@pytest.mark.parametrize("field", ["character_name", "character_id"])
def test_a_character_with_a_nul_is_refused(service: Service, table: Table, field: str) -> None:
    before = service.version(table.session_id)
    response = service.call(
        "POST",
        f"/api/sessions/{table.session_id}/turns",
        PLAYER,
        json={"text": "I wave", field: "Bo\u0000b"},
    )
    assert field in refused_field(response)
    assert service.version(table.session_id) == before


def test_a_turn_text_may_hold_tabs_and_line_breaks_but_no_nul(
    service: Service, table: Table
) -> None:
    path = f"/api/sessions/{table.session_id}/turns"
    refused = service.call("POST", path, PLAYER, json={"text": "I wave\u0000"})
    assert "text" in refused_field(refused)
    accepted = service.call("POST", path, PLAYER, json={"text": "I wave\n\tand smile\r\n"})
    assert accepted.status_code == 202, accepted.text


def test_a_fork_title_with_a_nul_is_refused(service: Service, table: Table) -> None:
    response = service.call(
        "POST", f"/api/sessions/{table.session_id}/fork", OWNER, json={"title": "b\u0000"}
    )
    assert "title" in refused_field(response)


def test_an_invite_token_with_a_nul_is_refused(service: Service) -> None:
    response = service.call("POST", "/api/invites/accept", PLAYER, json={"token": "t\u0000"})
    assert "token" in refused_field(response)


def test_the_domain_refuses_a_nul_whoever_calls_it(service: Service, table: Table) -> None:
    sessions = service.state.sessions
    sid = UUID(table.session_id)
    with pytest.raises(InvalidText):
        sessions.start_session(owner=OWNER, owner_name="Ann", title="a\u0000b")
    with pytest.raises(InvalidText):
        sessions.rename(session_id=sid, actor=OWNER, title="a\u0000b")
    with pytest.raises(InvalidText):
        sessions.submit_turn(
            session_id=sid, actor=PLAYER, text="hi", character={"id": "c", "name": "\u0000"}
        )
    with pytest.raises(InvalidText):
        sessions.submit_turn(session_id=sid, actor=PLAYER, text="hi", idempotency_key="k\u0000")
    token = sessions.issue_invite(session_id=sid, actor=OWNER).token
    with pytest.raises(InvalidText):
        sessions.accept_invite(token=token, user_id="newcomer", display_name="N\u0000")
    with pytest.raises(InvalidText):
        sessions.remove_member(session_id=sid, actor=OWNER, user_id="x\u0000", block=True)


def test_a_token_name_with_a_nul_is_cleaned_and_every_view_keeps_going(
    service: Service,
) -> None:
    token = service.state.local_auth.issue("user-odd", "Od\u0000d\u001b")  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {token}"}
    created = service.client.post("/api/campaigns/new", json={"title": "T"}, headers=headers)
    assert created.status_code == 201, created.text
    position = created.json()["position"]
    listed = service.client.get(f"/api/sessions?min_position={position}", headers=headers).json()
    [entry] = listed["sessions"]
    assert entry["owner"]["display_name"] == "Odd"
    assert listed["position"] >= position
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "projection_skipped" not in ready.json()


def stored_session(sessions: Sessions, *, title: str, origin: dict[str, Any]) -> int:
    """Store a session start the way older code could, past every check; its position."""
    session = CampaignSession._create(
        CampaignSession.SessionStarted,
        id=uuid4(),
        title=title,
        owner=OWNER,
        owner_name="Ann\u0000",
        settings={},
        origin=origin,
        actor=OWNER,
        occurred_at=None,
    )
    return sessions.save_new(session).position


def test_a_nul_stored_by_older_code_is_listed_in_a_form_the_database_holds(
    service: Service,
) -> None:
    position = stored_session(service.state.sessions, title="a\u0000b", origin={"kind": "new"})
    listed = service.call("GET", f"/api/sessions?min_position={position}", OWNER).json()
    [entry] = listed["sessions"]
    assert entry["title"] == "a\ufffdb"
    assert entry["owner"]["display_name"] == "Ann\ufffd"
    assert service.client.get("/readyz").status_code == 200


def test_an_event_a_view_cannot_apply_is_skipped_and_recorded_not_a_halt(
    service: Service,
) -> None:
    sessions = service.state.sessions
    poison = {"kind": "fork", "parent_id": str(uuid4()), "at_version": "not a version"}
    poisoned_at = stored_session(sessions, title="Poison", origin=poison)
    later = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Later"})
    assert later.status_code == 201, later.text
    position = later.json()["position"]

    listed = service.call("GET", f"/api/sessions?min_position={position}", OWNER).json()
    assert "Later" in [entry["title"] for entry in listed["sessions"]]
    assert listed["position"] >= position
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    skipped = ready.json()["projection_skipped"]["my_sessions"]
    assert skipped["count"] == 1
    assert skipped["last"]["position"] == poisoned_at
    assert skipped["last"]["error"] == "ValueError"
    metrics = service.client.get("/metrics").text
    assert 'gaia_projection_events_skipped_total{view="my_sessions"} 1.0' in metrics
    # Reads of the session itself do not stop on it either.
    [stored] = sessions.recorder.select_notifications(start=poisoned_at, limit=1)
    poisoned = stored.originator_id
    for path in ("", "/history", "/timeline", "/export"):
        response = service.call("GET", f"/api/sessions/{poisoned}{path}", OWNER)
        assert response.status_code == 200, (path, response.text)
    assert json.loads(ready.text)["status"] == "ok"
