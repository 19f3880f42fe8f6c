"""Reading a session's past from its stream (in memory): timeline pages, filtered pages that run
out of scan budget, and the session header at a version against a fresh fold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest

from domain.application import Sessions
from projections import timeline
from projections.records import StoredRecords, event_record
from projections.timeline import EVENT_TOPICS, session_at, timeline_page
from tests.support.story import play_story, start_story
from tests.support.timeline import fresh_fold

EVENTS = 400


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[Sessions, UUID]]:
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_interval=25)
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=EVENTS, seed=3)
    yield sessions, session_id
    sessions.close()


def all_pages(
    sessions: Sessions, session_id: UUID, limit: int, types: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], list[tuple[int, int | None]]]:
    """Every record, and each page's size and cursor."""
    records: list[dict[str, Any]] = []
    pages: list[tuple[int, int | None]] = []
    after: int | None = 0
    while after is not None:
        page, after = timeline_page(sessions, session_id, after=after, limit=limit, types=types)
        records += page
        pages.append((len(page), after))
    return records, pages


def test_pages_of_the_timeline_join_into_every_record_in_order(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    records, pages = all_pages(sessions, session_id, limit=60)
    assert records == [event_record(e) for e in sessions.events.get(session_id)]
    assert pages == [(60, 60 * n) for n in range(1, 7)] + [(40, None)]


def test_a_page_that_ends_the_stream_says_so(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    assert timeline_page(sessions, session_id, after=EVENTS - 5, limit=5)[1] is None
    assert timeline_page(sessions, session_id, after=EVENTS - 6, limit=5)[1] == EVENTS - 1
    assert timeline_page(sessions, session_id, after=EVENTS, limit=5) == ([], None)


def test_a_filtered_scan_that_runs_out_of_budget_answers_a_short_page_and_a_cursor(
    story: tuple[Sessions, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, session_id = story
    monkeypatch.setattr(timeline, "SCAN_CHUNK", 16)
    monkeypatch.setattr(timeline, "SCAN_BUDGET", 32)
    wanted = frozenset({"TimelineRewound", "SessionRenamed"})
    records, pages = all_pages(sessions, session_id, limit=3, types=wanted)
    expected = [
        event_record(e) for e in sessions.events.get(session_id) if type(e).__name__ in wanted
    ]
    assert records == expected
    assert len(expected) >= 4
    # Some pages came back short, with a cursor, rather than scanning on.
    assert any(size < 3 and cursor is not None for size, cursor in pages)


def test_every_recorded_event_type_is_known(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    seen = {type(e).__name__ for e in sessions.events.get(session_id)}
    assert seen <= EVENT_TOPICS.keys()
    assert "Created" not in EVENT_TOPICS


def test_the_session_at_a_version_matches_a_fresh_fold(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    for version in (1, 2, 3, 26, 99, 250, EVENTS):
        header = session_at(sessions, session_id, version)
        replay = fresh_fold(sessions, session_id, version)
        assert header.version == replay.version == version
        assert (header.title, header.owner, header.origin, header.created_at) == (
            replay.title,
            replay.owner,
            replay.origin,
            replay.created_at,
        )
        assert json.dumps(header.members) == json.dumps(replay.members)  # same order too


def test_records_read_from_stored_json_match_the_decoded_events(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    reader = StoredRecords(sessions.mapper)
    for stored in sessions.recorder.select_events(session_id):
        assert reader.record(stored) == event_record(sessions.mapper.to_domain_event(stored))


def test_an_event_stored_under_an_older_class_version_is_upcast_as_the_library_does(
    story: tuple[Sessions, UUID],
) -> None:
    sessions, session_id = story
    turn = next(
        stored
        for stored in sessions.recorder.select_events(session_id)
        if stored.topic == EVENT_TOPICS["TurnSubmitted"]
    )
    state = json.loads(turn.state)
    for name in ("character", "held", "legacy"):
        del state[name]
    old = replace(turn, state=json.dumps(state | {"class_version": 1}).encode())
    record = StoredRecords(sessions.mapper).record(old)
    assert record == event_record(sessions.mapper.to_domain_event(old))
    assert record["data"]["held"] is False
    assert record["data"]["legacy"] is None
