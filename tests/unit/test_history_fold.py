"""The history fold reads each stored event's JSON straight into its record: it must end in the
same view as folding the library's decoded events, for every event type and for events stored
under an older class version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.application import Sessions
from domain.session import CampaignSession as S
from projections.dispatch import SESSION_EVENTS
from projections.history import SessionView
from projections.records import StoredRecords, event_record
from projections.session_views import SessionViews
from projections.timeline import EVENT_TOPICS
from tests.support.story import GM, play_story, start_story
from tests.support.timeline import as_json, fresh_fold

# Older shapes of the events that have upcasters: the fields a newer class version added.
OLDER: dict[str, tuple[str, ...]] = {
    "TurnSubmitted": ("character", "held", "legacy"),
    "NarrationCompleted": ("legacy",),
    "MediaStored": ("legacy",),
}


def add_every_other_event_type(sessions: Sessions, session_id: UUID) -> None:
    """The event types a played story does not record, appended through the aggregate."""
    session = sessions.get(session_id)
    turn_id = next(e.turn_id for e in sessions.events.get(session_id) if type(e) is S.TurnSubmitted)
    at = datetime.now(UTC)
    invite_id = next(iter(session.invites))
    session.revoke_invite(actor=GM, invite_id=UUID(invite_id), at=at)
    session.create_character(
        actor=GM, character_id="npc-1", kind="npc", sheet={"name": "Brannoc"}, at=at
    )
    session.change_character(
        actor=GM, character_id="npc-1", changes={"backstory": "Once a miller."}, at=at
    )
    session.retire_character(actor=GM, character_id="npc-1", at=at)
    trigger = session.trigger_event
    trigger(S.SceneEntered, scene={"name": "The crypt"}, turn_id=turn_id, occurred_at=at)
    trigger(S.CombatStarted, combat={"round": 1}, turn_id=turn_id, occurred_at=at)
    trigger(S.CombatUpdated, combat={"round": 2}, turn_id=turn_id, occurred_at=at)
    trigger(S.CombatEnded, turn_id=turn_id, occurred_at=at)
    trigger(
        S.MessagePosted,
        actor=None,
        role="narrator",
        text="Long ago …",
        structured={"mood": 0.5},
        legacy={"content_form": "text"},
        occurred_at=at,
    )
    trigger(
        S.LegacyArtifactPreserved, path="a/b.json", sha256="0" * 64, content=[1], occurred_at=at
    )
    session.record_media(
        actor=GM,
        media_id=uuid4(),
        kind="image",
        content_type="image/png",
        size=3,
        sha256="1" * 64,
        storage_key="media/x",
        filename="map.png",
        turn_id=None,
        source="upload",
        at=at,
    )
    session.fail_media_generation(
        turn_id=turn_id, kind="image", error_kind="timeout", message="no picture", at=at
    )
    sessions.save(session)


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[Sessions, UUID]]:
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_interval=25)
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=300, seed=5)
    add_every_other_event_type(sessions, session_id)
    yield sessions, session_id
    sessions.close()


def picture(view: SessionView) -> Any:
    """Everything a reader can learn from ``view``, as JSON carries it."""
    names = {user_id: member["display_name"] for user_id, member in view.members.items()}
    return as_json(
        {
            "version": view.version,
            "header": [view.title, view.owner, view.origin, view.settings, view.created_at],
            "members": view.members,
            "blocked": sorted(view.blocked),
            "invites": view.invites,
            "media": view.media,
            "messages": view.messages,
            "visible": view.visible_messages(),
            "hidden": view.hidden,
            "campaign": view.campaign.document(names),
        }
    )


def test_the_story_records_every_event_type(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    recorded = {type(event) for event in sessions.events.get(session_id)}
    assert recorded == SESSION_EVENTS


def test_the_fold_from_stored_json_equals_the_fold_of_decoded_events(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    head = sessions.get(session_id).version
    for version in (1, head // 3, head - 5, head):
        fast = SessionViews(sessions).get(session_id, at_version=version)
        assert picture(fast) == picture(fresh_fold(sessions, session_id, version))


def test_events_stored_under_an_older_class_version_fold_as_the_library_upcasts_them(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    copy_id, older = uuid4(), 0
    copied = []
    for stored in sessions.recorder.select_events(session_id):
        name = next(name for name, topic in EVENT_TOPICS.items() if topic == stored.topic)
        state = json.loads(stored.state)
        if name in OLDER:
            for field in OLDER[name]:
                del state[field]
            state["class_version"] = 1
            older += 1
        copied.append(replace(stored, originator_id=copy_id, state=json.dumps(state).encode()))
    sessions.recorder.insert_events(copied)
    assert older > 10
    fast = SessionViews(sessions).get(copy_id, at_version=len(copied))
    assert picture(fast) == picture(fresh_fold(sessions, copy_id, len(copied)))
    assert any(m["kind"] == "media" for m in fast.messages)


def test_stored_values_nested_in_free_data_read_as_the_library_reads_them(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    narration = next(
        stored
        for stored in sessions.recorder.select_events(session_id)
        if stored.topic == EVENT_TOPICS["NarrationCompleted"]
    )
    state = json.loads(narration.state)
    state["structured"] = {
        "when": {"_type_": "datetime_iso", "_data_": "2020-01-01T00:00:00.000000Z"},
        "who": {"_type_": "uuid_hex", "_data_": "A" * 32},
    }
    lookalike = replace(narration, state=json.dumps(state).encode())
    record = StoredRecords(sessions.mapper).record(lookalike)
    assert record == event_record(sessions.mapper.to_domain_event(lookalike))
    assert record["data"]["structured"]["when"] == "2020-01-01T00:00:00+00:00"
