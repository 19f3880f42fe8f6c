"""Writes ``session_stream_v4.json``: one session stream holding every event type, as stored.

Run once with the code whose stored shape the fixture pins (``python -m
tests.integration.data.record_session_stream``); the test that reads it
(tests/integration/test_stored_streams.py) must keep passing with every later version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.application import Sessions
from domain.session import CampaignSession

HERE = Path(__file__).parent
SESSION_ID = UUID("5e551011-0000-4000-8000-000000000001")
AT = datetime(2025, 11, 2, 18, 0, tzinfo=UTC)
OWNER, PLAYER, SPECTATOR = "owner-1", "player-1", "spectator-1"


def turn(n: int) -> UUID:
    return UUID(f"70000000-0000-4000-8000-{n:012d}")


def build() -> CampaignSession:
    s = CampaignSession.start(
        session_id=SESSION_ID,
        title="Salt Road",
        owner=OWNER,
        owner_name="Gm",
        settings={"tone": "grim"},
        origin={"kind": "legacy", "legacy_id": "salt-road", "source": "disk"},
        actor=OWNER,
        at=AT,
    )
    s.rename(actor=OWNER, title="The Salt Road", at=AT)
    invite = UUID("1a000000-0000-4000-8000-000000000001")
    s.issue_invite(
        actor=OWNER,
        invite_id=invite,
        token_sha256="ab" * 32,
        role="player",
        expires_at=AT + timedelta(days=7),
        max_uses=5,
        at=AT,
    )
    s.accept_invite(token_sha256="ab" * 32, user_id=PLAYER, display_name="Ada", at=AT)
    s.add_member(user_id=SPECTATOR, display_name="Sam", role="spectator", at=AT)
    s.add_member(user_id="leaver", display_name="Lee", role="spectator", at=AT)
    s.change_role(actor=OWNER, user_id=SPECTATOR, role="player", at=AT)
    s.remove_member(actor=OWNER, user_id="leaver", block=True, at=AT)
    revoked = UUID("1a000000-0000-4000-8000-000000000002")
    s.issue_invite(
        actor=OWNER,
        invite_id=revoked,
        token_sha256="cd" * 32,
        role="spectator",
        expires_at=None,
        max_uses=None,
        at=AT,
    )
    s.revoke_invite(actor=OWNER, invite_id=revoked, at=AT)
    s.create_character(
        actor=PLAYER, character_id="kara", kind="pc", sheet={"name": "Kara", "level": 2}, at=AT
    )
    s.create_character(actor=OWNER, character_id="tom", kind="npc", sheet={"name": "Tom"}, at=AT)
    s.change_character(actor=PLAYER, character_id="kara", changes={"level": 3}, at=AT)
    s.retire_character(actor=OWNER, character_id="tom", at=AT)
    s.submit_turn(
        actor=PLAYER,
        turn_id=turn(1),
        text="I light the lantern",
        kind="action",
        character={"id": "kara"},
        idempotency_key="k1",
        at=AT,
    )
    fight = {
        "scene": "The salt mine",
        "combat_status": {"kara": {"hp": 9}},
        "turn_info": {"is_combat": True, "round": 1},
    }
    s.complete_narration(
        turn_id=turn(1),
        narrative="Light floods the mine.",
        answer="",
        player_options=["Run"],
        structured=fight,
        provider="demo",
        model="demo",
        latency_ms=12,
        degraded=False,
        at=AT,
    )
    s.submit_turn(
        actor=PLAYER,
        turn_id=turn(2),
        text="I strike",
        kind="action",
        character=None,
        idempotency_key=None,
        at=AT,
    )
    s.complete_narration(
        turn_id=turn(2),
        narrative="A hit.",
        answer="",
        player_options=[],
        structured={"combat_status": {"kara": {"hp": 7}}, "turn_info": {"round": 2}},
        provider="demo",
        model="demo",
        latency_ms=9,
        degraded=True,
        at=AT,
    )
    quiet = s.version
    s.submit_turn(
        actor=OWNER,
        turn_id=turn(3),
        text="The ghoul falls",
        kind="context",
        character=None,
        idempotency_key=None,
        at=AT,
    )
    s.fail_narration(turn_id=turn(3), error_kind="timeout", message="slow", attempts=3, at=AT)
    s.request_narration(actor=PLAYER, turn_id=turn(3), at=AT)
    s.complete_narration(
        turn_id=turn(3),
        narrative="Peace.",
        answer="",
        player_options=[],
        structured={"turn_info": {"is_combat": False}},
        provider="demo",
        model="demo",
        latency_ms=5,
        degraded=False,
        at=AT,
    )
    s.rewind(actor=OWNER, to_version=quiet, at=AT)
    s.record_media(
        actor=PLAYER,
        media_id=UUID("3e000000-0000-4000-8000-000000000001"),
        kind="image",
        content_type="image/png",
        size=3,
        sha256="ef" * 32,
        storage_key="media/1",
        filename="map.png",
        turn_id=turn(1),
        source="upload",
        at=AT,
    )
    s.fail_media_generation(
        turn_id=turn(2), kind="audio", error_kind="provider_error", message="no voice", at=AT
    )
    s.record_game_state(actor=OWNER, kind="summary", key="act-1", data={"text": "so far"}, at=AT)
    s.preserve_artifact(path="campaign.json", sha256="01" * 32, content={"v": 1}, at=AT)
    s.import_turn(
        turn_id=turn(4),
        text="Hello?",
        kind="action",
        character={"id": "", "name": "Player"},
        legacy={"file": "log.json", "index": 0},
        at=AT,
    )
    s.import_reply(
        turn_id=turn(4),
        narrative="Welcome back.",
        answer="",
        player_options=[],
        structured={},
        legacy={"file": "log.json", "index": 1},
        at=AT,
    )
    s.import_turn(
        turn_id=turn(5),
        text="Still there?",
        kind="ooc",
        character=None,
        legacy={"file": "log.json", "index": 2},
        at=AT,
    )
    s.import_message(
        role="system", text="Imported.", structured={}, legacy={"file": "log.json"}, at=AT
    )
    return s


def main() -> None:
    app = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session = build()
    events = session.collect_events()
    stored = [app.mapper.to_stored_event(e) for e in events]
    snapshot = app.mapper.to_stored_event(CampaignSession.Snapshot.take(session))
    record: dict[str, Any] = {
        "session_id": str(SESSION_ID),
        "events": [_row(s) for s in stored],
        "snapshot": _row(snapshot),
    }
    (HERE / "session_stream_v4.json").write_text(json.dumps(record, indent=1) + "\n")


def _row(stored: Any) -> dict[str, Any]:
    return {
        "originator_version": stored.originator_version,
        "topic": stored.topic,
        "state": json.loads(stored.state),
    }


if __name__ == "__main__":
    main()
