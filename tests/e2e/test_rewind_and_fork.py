"""Rewinding and forking over HTTP: what history, the narrator, the timeline and the export each
show afterwards, and that a fork lives on independently of its parent."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from projections.export import verify_export
from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, Table
from tests.support.api import Service
from tests.support.timeline import (
    HeldNarrator,
    RecordingNarrator,
    history,
    page_through,
    story_of,
)


def play(service: Service, sid: str, text: str, user: str = PLAYER) -> dict[str, Any]:
    """Submit a turn and wait for its narration; the turn's answer."""
    response = service.call("POST", f"/api/sessions/{sid}/turns", user, json={"text": text})
    assert response.status_code == 202, response.text
    service.narrated()
    answer: dict[str, Any] = response.json()
    return answer


def rewind(service: Service, sid: str, to_version: int) -> dict[str, Any]:
    response = service.call(
        "POST", f"/api/sessions/{sid}/rewind", OWNER, json={"to_version": to_version}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def fork(service: Service, sid: str, user: str, **body: Any) -> dict[str, Any]:
    response = service.call("POST", f"/api/sessions/{sid}/fork", user, json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def timeline(service: Service, sid: str, user: str = OWNER) -> list[dict[str, Any]]:
    return page_through(service, f"/api/sessions/{sid}/timeline", user, "events", limit=500)


def texts(service: Service, sid: str, user: str = OWNER) -> list[str]:
    return [m["text"] for m in history(service, sid, user)]


def state_history(
    service: Service, sid: str, at_version: int, user: str = OWNER
) -> list[dict[str, Any]]:
    path = f"/api/sessions/{sid}/state"
    return page_through(service, path, user, "messages", at_version=at_version, limit=500)


# -- rewind ------------------------------------------------------------------------------------


def test_rewind_hides_later_turns_from_history_but_not_from_timeline_or_export(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    play(service, sid, "I open the gate")
    kept = service.version(sid)
    play(service, sid, "I light the fuse")
    before = service.version(sid)
    answer = rewind(service, sid, kept)
    assert answer["version"] == before + 1
    assert answer["position"] > 0
    shown = texts(service, sid)
    assert "I open the gate" in shown
    assert "I light the fuse" not in shown
    events = timeline(service, sid)
    assert [e["version"] for e in events] == list(range(1, before + 2))
    assert events[-1]["type"] == "TimelineRewound"
    assert events[-1]["data"] == {"to_version": kept}
    assert any(e["data"].get("text") == "I light the fuse" for e in events)
    export = service.call("GET", f"/api/sessions/{sid}/export", SPECTATOR)
    assert "I light the fuse" in export.text
    assert verify_export(export.text.splitlines()).count == before + 1


def test_state_just_before_a_rewind_still_shows_what_was_visible_then(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    kept = service.version(sid)
    play(service, sid, "I light the fuse")
    before = service.version(sid)
    rewind(service, sid, kept)
    assert "I light the fuse" in [m["text"] for m in state_history(service, sid, before)]
    assert "I light the fuse" not in [m["text"] for m in state_history(service, sid, before + 1)]


def test_play_continues_after_a_rewind_and_the_narrator_sees_what_history_shows(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    narrator = RecordingNarrator()
    service.state.worker.narrator = narrator
    play(service, sid, "I open the gate")
    kept = service.version(sid)
    play(service, sid, "I light the fuse")
    rewind(service, sid, kept)
    play(service, sid, "I close the gate instead")
    messages = history(service, sid, OWNER)
    assert [m["text"] for m in messages if m["role"] == "player"] == [
        "I look around",
        "I open the gate",
        "I close the gate instead",
    ]
    assert messages[-1]["role"] == "narrator"
    context = [(h.role, h.text) for h in narrator.requests[-1].history]
    assert context == [(m["role"], m["text"]) for m in messages[:-2]]
    assert narrator.requests[-1].turn_text == "I close the gate instead"


def test_a_turn_waiting_after_the_rewind_point_is_dropped_and_never_narrated(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    kept = service.version(sid)
    narrator = HeldNarrator()
    service.state.worker.narrator = narrator
    turn = service.call("POST", f"/api/sessions/{sid}/turns", PLAYER, json={"text": "I wait"})
    assert narrator.started.wait(10)  # the narration is under way
    rewind(service, sid, kept)
    narrator.release.set()
    service.narrated()
    turn_id = turn.json()["turn_id"]
    assert turn_id not in [m["turn_id"] for m in history(service, sid, OWNER)]
    replies = [e for e in timeline(service, sid) if e["data"].get("turn_id") == turn_id]
    assert [e["type"] for e in replies] == ["TurnSubmitted"]
    assert service.state.sessions.get(UUID(sid)).pending_turns() == []


def test_rewinding_to_a_version_where_a_turn_waits_is_refused(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    sessions = service.state.sessions
    waiting = sessions.submit_turn(session_id=UUID(sid), actor=PLAYER, text="Anyone?")
    sessions.complete_narration(
        session_id=UUID(sid),
        turn_id=waiting.turn_id,
        narrative="Someone.",
        provider="demo",
        model="demo-1",
        latency_ms=1,
    )
    before = service.version(sid)
    response = service.call(
        "POST", f"/api/sessions/{sid}/rewind", OWNER, json={"to_version": waiting.version}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_rewind"
    assert service.version(sid) == before


# -- fork --------------------------------------------------------------------------------------


def test_a_fork_starts_with_the_parents_history_up_to_the_fork_point(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    play(service, sid, "I open the gate")
    at = service.version(sid)
    play(service, sid, "I light the fuse")
    child = fork(service, sid, PLAYER, at_version=at, title="What if")
    assert child["title"] == "What if"
    assert child["origin"] == {"kind": "fork", "parent_id": sid, "at_version": at}
    assert child["version"] == 1
    inherited = history(service, child["session_id"], PLAYER)
    assert story_of(inherited) == story_of(state_history(service, sid, at))
    assert [m["version"] for m in inherited] == sorted(m["version"] for m in inherited)
    assert all(m["version"] <= 0 for m in inherited)
    assert state_history(service, child["session_id"], 1, PLAYER) == inherited
    play(service, child["session_id"], "I go left", user=PLAYER)
    grown = history(service, child["session_id"], PLAYER)
    assert story_of(grown[: len(inherited)]) == story_of(inherited)
    assert grown[len(inherited)]["text"] == "I go left"
    assert len(grown) == len(inherited) + 2


def test_a_fork_defaults_to_the_parents_latest_quiet_version(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    play(service, sid, "I open the gate")
    child = fork(service, sid, SPECTATOR)
    assert child["origin"]["at_version"] == service.version(sid)
    assert child["title"] == "Salt Road (fork)"
    assert story_of(history(service, child["session_id"], SPECTATOR)) == story_of(
        history(service, sid, SPECTATOR)
    )


def test_a_fork_of_a_fork_inherits_both_histories(service: Service, table: Table) -> None:
    sid = table.session_id
    child = fork(service, sid, PLAYER)["session_id"]
    play(service, child, "In the child", user=PLAYER)
    grandchild = fork(service, child, PLAYER)["session_id"]
    play(service, grandchild, "In the grandchild", user=PLAYER)
    assert texts(service, grandchild, PLAYER)[-2] == "In the grandchild"
    assert story_of(history(service, grandchild, PLAYER)[:-2]) == story_of(
        history(service, child, PLAYER)
    )
    assert story_of(history(service, child, PLAYER)[:-2]) == story_of(history(service, sid, PLAYER))


def test_the_parent_is_unchanged_by_anything_done_in_the_fork(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    before = (history(service, sid, OWNER), timeline(service, sid), service.version(sid))
    child = fork(service, sid, PLAYER)["session_id"]
    kept = service.version(child)
    play(service, child, "I take another road", user=PLAYER)
    service.call("PATCH", f"/api/sessions/{child}", PLAYER, json={"title": "Another road"})
    service.call("POST", f"/api/sessions/{child}/invites", PLAYER, json={"role": "spectator"})
    rewind_child = service.call(
        "POST", f"/api/sessions/{child}/rewind", PLAYER, json={"to_version": kept}
    )
    assert rewind_child.status_code == 200
    assert (history(service, sid, OWNER), timeline(service, sid), service.version(sid)) == before
    assert service.call("GET", f"/api/sessions/{sid}", OWNER).json()["title"] == "Salt Road"


def test_a_turn_in_a_fork_is_narrated_with_the_inherited_story_as_context(
    service: Service, table: Table
) -> None:
    narrator = RecordingNarrator()
    service.state.worker.narrator = narrator
    child = fork(service, table.session_id, PLAYER)["session_id"]
    play(service, child, "I take another road", user=PLAYER)
    messages = history(service, child, PLAYER)
    assert messages[-1]["role"] == "narrator"
    assert messages[-1]["turn_id"] == messages[-2]["turn_id"]
    request = narrator.requests[-1]
    assert request.turn_text == "I take another road"
    assert [(h.role, h.text) for h in request.history] == [
        (m["role"], m["text"]) for m in messages[:-2]
    ]
    assert request.history  # the parent's story came along


def test_a_fork_belongs_to_the_caller_alone(service: Service, table: Table) -> None:
    created = fork(service, table.session_id, SPECTATOR)
    child = created["session_id"]
    doc = service.call("GET", f"/api/sessions/{child}", SPECTATOR).json()
    assert doc["owner"]["user_id"] == SPECTATOR
    assert [m["user_id"] for m in doc["members"]] == [SPECTATOR]
    for outsider in (OWNER, PLAYER):
        assert service.call("GET", f"/api/sessions/{child}/history", outsider).status_code == 404
    mine = service.call(
        "GET", "/api/sessions", SPECTATOR, params={"min_position": created["position"]}
    ).json()["sessions"]
    assert {s["session_id"]: s["role"] for s in mine}[child] == "owner"
