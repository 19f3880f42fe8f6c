"""Streams stored by earlier versions still load: a recorded session with every event type
(tests/integration/data/session_stream_v4.json) rebuilds to the state it had when written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import Sessions
from domain.session import CampaignSession

RECORDED = json.loads(
    (Path(__file__).parent / "data" / "session_stream_v4.json").read_text(encoding="utf-8")
)
SESSION_ID = UUID(RECORDED["session_id"])
TURN = "70000000-0000-4000-8000-00000000000{}".format


def _stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=SESSION_ID,
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=json.dumps(row["state"]).encode(),
    )


def _replayed(sessions: Sessions) -> CampaignSession:
    session: CampaignSession | None = None
    for domain_event in sessions.events.get(SESSION_ID):
        session = domain_event.mutate(session)
    assert session is not None
    return session


def test_the_recorded_stream_holds_every_event_type_the_session_declares() -> None:
    declared = {
        name
        for name in dir(CampaignSession)
        if isinstance(value := getattr(CampaignSession, name), type)
        and issubclass(value, CampaignSession.Event)
    } - {"Event", "Created"}
    recorded = {row["topic"].removeprefix("gaia.") for row in RECORDED["events"]}
    assert recorded == declared


def test_a_stored_stream_of_every_event_type_rebuilds_the_session(sessions: Sessions) -> None:
    sessions.recorder.insert_events([_stored(row) for row in RECORDED["events"]])

    session = sessions.get(SESSION_ID)

    assert session.version == len(RECORDED["events"]) == 35
    assert session.title == "The Salt Road"
    assert session.owner == "owner-1"
    assert session.members == {
        "owner-1": {"display_name": "Gm", "role": "owner"},
        "player-1": {"display_name": "Ada", "role": "player"},
        "spectator-1": {"display_name": "Sam", "role": "player"},
    }
    assert session.blocked == ["leaver"]
    assert {i: (v["uses"], v["revoked"]) for i, v in session.invites.items()} == {
        "1a000000-0000-4000-8000-000000000001": (1, False),
        "1a000000-0000-4000-8000-000000000002": (0, True),
    }
    assert session.turns == {
        TURN(1): "15:pending;16:narrated",
        TURN(2): "19:pending;20:narrated",
        TURN(4): "32:held;33:narrated",
        TURN(5): "34:held",
    }
    assert session.hidden == [[22, 26]]
    assert not session.is_visible(24)
    assert session.pending_turns() == []
    assert session.turn_state(TURN(5)) == "held"
    assert list(session.idempotency) == ["player-1\nk1"]
    state = session.campaign_state()
    assert state["scene"] == {"title": "The salt mine"}
    assert state["combat"] == {"combatants": {"kara": {"hp": 7}}, "round": 2}
    assert state["characters"]["kara"]["level"] == 3
    assert state["characters"]["tom"]["retired"] is True


def test_a_stored_snapshot_loads_as_the_replayed_session(sessions: Sessions) -> None:
    sessions.recorder.insert_events([_stored(row) for row in RECORDED["events"]])
    assert sessions.snapshots is not None
    sessions.snapshots.recorder.insert_events([_stored(RECORDED["snapshot"])])

    from_snapshot = sessions.get(SESSION_ID)

    assert type(from_snapshot) is CampaignSession
    assert vars(from_snapshot) == vars(_replayed(sessions))


def test_events_written_now_keep_the_stored_topics_and_fields(sessions: Sessions) -> None:
    sessions.recorder.insert_events([_stored(row) for row in RECORDED["events"]])

    for row, domain_event in zip(RECORDED["events"], sessions.events.get(SESSION_ID), strict=True):
        again = sessions.mapper.to_stored_event(domain_event)
        assert again.topic == row["topic"]
        assert json.loads(again.state) == row["state"]
