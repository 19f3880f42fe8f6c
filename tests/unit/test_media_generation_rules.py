"""A failed image or speech generation is recorded beside the narration, which still stands."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import RuleViolation
from domain.session import CampaignSession, TurnNotFound, TurnStatus
from projections.history import SessionView
from tests.unit.test_session_rules import T0, narrate, submit, with_members


def narrated_turn() -> tuple[CampaignSession, UUID]:
    session = with_members()
    turn_id = submit(session)
    narrate(session, turn_id)
    return session, turn_id


def folded(session: CampaignSession) -> list[dict[str, Any]]:
    view = SessionView(session.id)
    for event in session.collect_events():
        view.apply(event)
    return view.visible_messages()


def test_a_failed_generation_is_recorded_and_leaves_the_narration_standing() -> None:
    session, turn_id = narrated_turn()
    session.fail_media_generation(
        turn_id=turn_id, kind="image", error_kind="timeout", message="no answer in 2 s", at=T0
    )
    assert session.turn_state(str(turn_id)) == TurnStatus.NARRATED
    event = session.pending_events[-1]
    assert isinstance(event, CampaignSession.MediaGenerationFailed)
    assert (event.turn_id, event.kind, event.error_kind) == (turn_id, "image", "timeout")
    assert CampaignSession.MediaGenerationFailed.TOPIC == "gaia.MediaGenerationFailed"


def test_a_generation_failure_needs_a_known_turn() -> None:
    session, _ = narrated_turn()
    with pytest.raises(TurnNotFound):
        session.fail_media_generation(
            turn_id=uuid4(), kind="audio", error_kind="timeout", message="", at=T0
        )


@pytest.mark.parametrize(
    ("kind", "error_kind"), [("video", "timeout"), ("image", "")], ids=["kind", "error kind"]
)
def test_a_generation_failure_needs_a_media_kind_and_an_error_kind(
    kind: str, error_kind: str
) -> None:
    session, turn_id = narrated_turn()
    with pytest.raises(RuleViolation):
        session.fail_media_generation(
            turn_id=turn_id, kind=kind, error_kind=error_kind, message="", at=T0
        )


def test_history_shows_a_failed_generation_as_a_system_note_after_the_narration() -> None:
    session, turn_id = narrated_turn()
    session.fail_media_generation(
        turn_id=turn_id, kind="audio", error_kind="server_error", message="HTTP 500", at=T0
    )
    player, narration, note = folded(session)[-3:]
    assert (player["role"], narration["kind"]) == ("player", "narration")
    assert note["role"] == "system"
    assert note["kind"] == "media_failed"
    assert note["turn_id"] == str(turn_id)
    assert note["structured"] == {"kind": "audio", "error_kind": "server_error"}
    assert "server_error" in note["text"]
    assert "HTTP 500" in note["text"]


def test_generated_media_is_shown_on_its_turn() -> None:
    session, turn_id = narrated_turn()
    session.record_media(
        actor=None,
        media_id=uuid4(),
        kind="image",
        content_type="image/png",
        size=3,
        sha256="0" * 64,
        storage_key=f"sha256/00/{'0' * 64}",
        filename="x.png",
        turn_id=turn_id,
        source="generated",
        at=T0,
    )
    player = next(m for m in folded(session) if m["role"] == "player")
    assert [(m["source"], m["kind"]) for m in player["media"]] == [("generated", "image")]
