"""Rules of the legacy import commands on CampaignSession, and how the history view folds
imported messages (no store)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.session import (
    CampaignSession,
    InvalidTurn,
    InvalidValue,
    NotALegacySession,
    TurnNotFound,
    TurnStatus,
)
from projections.history import SessionView

LEGACY: dict[str, Any] = {"position": 0, "keys": ["role", "content"], "extras": {}}


def legacy_session(owner: str | None = None) -> CampaignSession:
    return CampaignSession.start(
        session_id=uuid4(),
        title="Old",
        owner=owner,
        owner_name=owner,
        settings={},
        origin={"kind": "legacy", "legacy_id": "campaign_1", "source": "campaign_1"},
        actor=None,
        at=None,
    )


def import_turn(session: CampaignSession, text: str = "I knock", form: str = "text") -> UUID:
    turn_id = uuid4()
    session.import_turn(
        turn_id=turn_id,
        text=text,
        kind="action",
        character={"id": "pc:mira", "name": "Mira"},
        legacy=LEGACY | {"content_form": form, "role": "user"},
        at=None,
    )
    return turn_id


def import_reply(session: CampaignSession, turn_id: UUID, structured: dict[str, Any]) -> None:
    session.import_reply(
        turn_id=turn_id,
        narrative="The door creaks.",
        answer="",
        player_options=[],
        structured=structured,
        legacy=LEGACY | {"content_form": "object", "role": "dm"},
        at=None,
    )


def folded(session: CampaignSession) -> list[dict[str, Any]]:
    view = SessionView(session.id)
    for event in session.collect_events():
        view.apply(event)
    return view.visible_messages()


def test_an_imported_turn_is_held_never_pending() -> None:
    session = legacy_session()
    turn_id = import_turn(session, text="")  # blank legacy content is kept, not refused
    assert session.turn_state(str(turn_id)) == TurnStatus.HELD
    assert session.pending_turns() == []


def test_an_imported_reply_answers_its_turn_once() -> None:
    session = legacy_session()
    turn_id = import_turn(session)
    import_reply(session, turn_id, {"narrative": "The door creaks."})
    assert session.turn_state(str(turn_id)) == TurnStatus.NARRATED
    with pytest.raises(InvalidTurn):
        import_reply(session, turn_id, {})


def test_a_reply_to_an_unknown_turn_is_refused() -> None:
    with pytest.raises(TurnNotFound):
        import_reply(legacy_session(), uuid4(), {})


def test_a_session_that_was_not_imported_refuses_legacy_data() -> None:
    session = CampaignSession.start(
        session_id=uuid4(),
        title="New",
        owner="o",
        owner_name="O",
        settings={},
        origin={"kind": "new"},
        actor="o",
        at=None,
    )
    with pytest.raises(NotALegacySession):
        import_turn(session)
    with pytest.raises(NotALegacySession):
        session.import_message(role="system", text="x", structured={}, legacy=LEGACY, at=None)


def test_a_message_that_answers_no_turn_is_from_the_narrator_or_the_system() -> None:
    session = legacy_session()
    with pytest.raises(InvalidValue):
        session.import_message(role="player", text="x", structured={}, legacy=LEGACY, at=None)
    session.import_message(role="narrator", text="intro", structured={}, legacy=LEGACY, at=None)
    assert session.version == 2


def test_a_held_imported_turn_is_narrated_only_after_a_retry() -> None:
    session = legacy_session(owner="o")
    turn_id = import_turn(session)
    session.request_narration(actor="o", turn_id=turn_id, at=None)
    assert session.pending_turns() == [str(turn_id)]
    assert session.turn_state(str(turn_id)) == TurnStatus.PENDING


def test_turns_are_a_kind_of_game_state() -> None:
    session = legacy_session()
    session.record_game_state(actor=None, kind="turn", key="turn_0001", data={}, at=None)
    assert session.version == 2


def test_imported_messages_fold_into_history_with_their_legacy_record() -> None:
    session = legacy_session()
    session.import_message(
        role="narrator",
        text="Rain.",
        structured={"narrative": "Rain."},
        legacy=LEGACY | {"content_form": "object"},
        at=None,
    )
    turn_id = import_turn(session)
    import_reply(session, turn_id, {"narrative": "The door creaks.", "answer": ""})
    intro, turn, reply = folded(session)
    assert (intro["role"], intro["kind"], intro["turn_id"]) == ("narrator", "narration", None)
    assert intro["legacy"]["content"] == {"narrative": "Rain."}
    assert turn["legacy"]["content"] == "I knock"
    assert turn.get("held") is None
    assert reply["legacy"]["role"] == "dm"
    assert reply["turn_id"] == str(turn_id)


def test_an_unanswered_imported_turn_shows_as_held() -> None:
    session = legacy_session()
    import_turn(session)
    [turn] = folded(session)
    assert turn["held"] is True
    assert turn["pending"] is False


def test_imported_images_are_session_media_not_history_messages() -> None:
    session = legacy_session()
    session.record_media(
        actor=None,
        media_id=uuid4(),
        kind="image",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        storage_key="sha256/00/" + "0" * 64,
        filename="scene.png",
        turn_id=None,
        source="legacy",
        at=None,
        legacy={"path": "image_metadata/scene.json", "metadata": {}},
    )
    view = SessionView(session.id)
    for event in session.collect_events():
        view.apply(event)
    assert view.visible_messages() == []
    assert [m["filename"] for m in view.media.values()] == ["scene.png"]
