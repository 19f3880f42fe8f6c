"""Session views fold the events this process writes as they commit (``SessionViews.written``,
fed by ``SessionWrites.on_recorded``): such a view ends where a fold of the store ends, and a
reader that needs no more than a version this process wrote (the turn worker) reads nothing of
the store; events another process wrote in between are read from the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.application import Sessions
from projections.history import SessionView
from projections.session_views import SessionViews
from tests.integration.conftest import SessionsFactory
from tests.support.story import ADA, GM, play_story, start_story
from tests.support.timeline import fresh_fold
from tests.unit.test_history_fold import picture


class CountedViews(SessionViews):
    """Session views that count their reads of the store."""

    store_reads = 0

    def _catch_up(self, view: SessionView, until: int | None = None) -> SessionView:
        self.store_reads += 1
        return super()._catch_up(view, until)


@pytest.fixture
def fed(sessions: Sessions) -> Iterator[tuple[Sessions, CountedViews]]:
    views = CountedViews(sessions)
    sessions.on_recorded.append(views.written)
    yield sessions, views
    sessions.on_recorded.remove(views.written)


def held_story(sessions: Sessions, views: SessionViews) -> UUID:
    """A new story whose view ``views`` holds from here on."""
    session_id = start_story(sessions)
    views.read(session_id, picture)
    return session_id


def test_a_view_fed_by_writes_ends_where_a_fold_of_the_store_ends(
    fed: tuple[Sessions, CountedViews],
) -> None:
    sessions, views = fed
    session_id = held_story(sessions, views)
    assert views.store_reads == 1
    # Turns, narrations, failures, retries, rewinds, renames, members, media and game state.
    for events in range(12, 240, 19):
        play_story(sessions, session_id, events=events, seed=events)
        fed_picture = views.read(session_id, picture, at_least=events)
        assert fed_picture == picture(fresh_fold(sessions, session_id, events))
    assert views.store_reads == 1  # every event came from the writes


def test_a_view_reads_the_store_for_what_another_process_wrote(
    fed: tuple[Sessions, CountedViews], make_sessions: SessionsFactory
) -> None:
    sessions, views = fed
    other = make_sessions()  # another process on the same store
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=8)
    views.read(session_id, picture)
    reads = views.store_reads
    rename = other.rename(session_id=session_id, actor=GM, title="Renamed elsewhere")
    turn = sessions.submit_turn(session_id=session_id, actor=ADA, text="After the rename")
    assert turn.version == rename.version + 1
    # This process's own write stands after a gap: the view reads the store for the rename.
    answer: Any = views.read(session_id, picture, at_least=turn.version)
    assert views.store_reads == reads + 1
    assert answer == picture(fresh_fold(sessions, session_id, turn.version))
    assert answer["header"][0] == "Renamed elsewhere"


def test_without_a_version_to_stand_at_a_read_still_reads_the_store(
    fed: tuple[Sessions, CountedViews], make_sessions: SessionsFactory
) -> None:
    sessions, views = fed
    session_id = held_story(sessions, views)
    make_sessions().rename(session_id=session_id, actor=GM, title="Renamed elsewhere")
    assert views.read(session_id, lambda view: view.title) == "Renamed elsewhere"


def test_sessions_read_at_least_a_version_answers_from_the_loaded_session(
    sessions: Sessions, make_sessions: SessionsFactory
) -> None:
    session_id = start_story(sessions)
    turn = sessions.submit_turn(session_id=session_id, actor=GM, text="First")
    other = make_sessions()
    later = other.submit_turn(session_id=session_id, actor=GM, text="From another process")

    def pending(at_least: int | None) -> list[str]:
        return sessions.read(session_id, lambda s: s.pending_turns(), at_least=at_least)

    # Standing at the version asked for, the loaded session answers as this process holds it.
    assert pending(turn.version) == [str(turn.turn_id)]
    # Asked for a version it does not stand at, or for none, it reads the store.
    assert pending(later.version) == [str(turn.turn_id), str(later.turn_id)]
    other.submit_turn(session_id=session_id, actor=GM, text="Third")
    assert len(pending(None)) == 3


def test_the_held_view_answers_at_hand_once_it_stands_at_the_version(
    fed: tuple[Sessions, CountedViews], make_sessions: SessionsFactory
) -> None:
    sessions, views = fed
    session_id = held_story(sessions, views)
    reads = views.store_reads
    play_story(sessions, session_id, events=30, seed=3)
    # What this process wrote is folded at hand, without a read of the store.
    at_hand = views.cached(session_id, picture, at_least=30)
    assert at_hand == picture(fresh_fold(sessions, session_id, 30))
    assert views.store_reads == reads
    # Short of the version asked for (another process wrote it), nothing is at hand.
    later = make_sessions().rename(session_id=session_id, actor=GM, title="Elsewhere")
    assert views.cached(session_id, picture, at_least=later.version) is None
    assert views.store_reads == reads


def test_the_loaded_session_is_read_at_hand_only_when_free_and_current(
    sessions: Sessions, make_sessions: SessionsFactory
) -> None:
    session_id = start_story(sessions)
    turn = sessions.submit_turn(session_id=session_id, actor=GM, text="First")

    def pending(at_least: int) -> list[str] | None:
        return sessions.read_held(session_id, lambda s: s.pending_turns(), at_least)

    assert pending(turn.version) == [str(turn.turn_id)]
    # A reader holding the session: the look gives up at once instead of waiting.
    holding, release = threading.Event(), threading.Event()

    def hold(_session: object) -> None:
        holding.set()
        release.wait(10)

    reader = threading.Thread(target=sessions.read, args=(session_id, hold))
    reader.start()
    try:
        assert holding.wait(10)
        assert pending(turn.version) is None
    finally:
        release.set()
        reader.join(10)
    # Behind a version another process wrote: not at hand either.
    later = make_sessions().submit_turn(session_id=session_id, actor=GM, text="Elsewhere")
    assert pending(later.version) is None
