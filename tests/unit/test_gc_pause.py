"""The cycle collector's pause: one pause across threads, the collector back only after the
last one ends and only if it ran before; and the builds of past views run within it."""

from __future__ import annotations

import gc
import threading
import weakref
from uuid import UUID

import pytest

from domain.application import Sessions
from projections.gc_pause import collector_paused
from projections.history import SessionView
from projections.session_views import SessionViews
from tests.support.story import play_story, start_story


def test_the_collector_is_off_inside_and_on_again_after(collector_on: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_end_with_the_last(collector_on: None) -> None:
    inside, leave = threading.Event(), threading.Event()

    def pause_in_a_thread() -> None:
        with collector_paused():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=pause_in_a_thread)
    with collector_paused():
        thread.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the thread still pauses
    leave.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


@pytest.fixture
def story_views() -> tuple[SessionViews, UUID]:
    """Views over a short story, and its session id."""
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=20, seed=3)
    return SessionViews(sessions), session_id


def test_a_past_view_is_built_with_the_collector_paused_and_a_live_one_is_not(
    collector_on: None, monkeypatch: pytest.MonkeyPatch, story_views: tuple[SessionViews, UUID]
) -> None:
    views, session_id = story_views
    collecting: list[bool] = []
    catch_up = SessionViews._catch_up

    def spy(self: SessionViews, *args: object, **kwargs: object) -> object:
        collecting.append(gc.isenabled())
        return catch_up(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SessionViews, "_catch_up", spy)
    views.get(session_id, at_version=5)
    views.get(session_id)
    assert collecting == [False, True]
    assert gc.isenabled()


def test_a_view_read_at_a_version_is_gone_before_the_collector_is_back(
    collector_on: None, monkeypatch: pytest.MonkeyPatch, story_views: tuple[SessionViews, UUID]
) -> None:
    views, session_id = story_views
    read: list[weakref.ref[SessionView]] = []
    alive_when_enabled: list[bool] = []
    enable = gc.enable

    def watch() -> None:
        alive_when_enabled.append(read[0]() is not None)
        enable()

    def query(view: SessionView) -> int:
        assert not gc.isenabled()
        read.append(weakref.ref(view))
        return view.version

    monkeypatch.setattr(gc, "enable", watch)
    assert views.read_at(session_id, 5, query) == 5
    assert alive_when_enabled == [False]
    assert gc.isenabled()
