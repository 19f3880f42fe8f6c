"""Every view decides, for every event type a session records, the handler that folds it or
that it ignores it: a new event type fails here until each view has said what it does with it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import projections
from domain.application import Sessions
from domain.session import CampaignSession as S
from projections.dispatch import (
    IGNORED,
    SESSION_EVENTS,
    EventTable,
    UndeclaredEvent,
    stored_topic,
)
from projections.history import SessionView
from tests.support.story import play_story, start_story


def view_tables() -> dict[str, EventTable[Any]]:
    """The ``HANDLERS`` table of every class in the projections package, by class name."""
    tables: dict[str, EventTable[Any]] = {}
    for found in pkgutil.iter_modules(projections.__path__):
        module = importlib.import_module(f"projections.{found.name}")
        for value in vars(module).values():
            table = getattr(value, "HANDLERS", None)
            if isinstance(table, EventTable) and value.__module__ == module.__name__:
                tables[value.__qualname__] = table
    return tables


TABLES = view_tables()


def test_every_view_in_the_package_is_found() -> None:
    assert {"SessionView", "MySessions", "MediaIndex"} <= TABLES.keys()


@pytest.mark.parametrize("view", sorted(TABLES))
def test_a_view_decides_every_event_type_a_session_records(view: str) -> None:
    TABLES[view].check()


@pytest.mark.parametrize("view", sorted(TABLES))
def test_a_view_decides_nothing_for_event_types_no_session_records(view: str) -> None:
    assert TABLES[view].declared <= SESSION_EVENTS


def test_the_session_event_types_are_those_a_session_stores() -> None:
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=300, seed=5)
    stored = {type(event) for event in sessions.events.get(session_id)}
    sessions.close()
    assert stored <= SESSION_EVENTS
    assert {S.SessionStarted, S.TurnSubmitted, S.TimelineRewound} <= SESSION_EVENTS
    assert S.Created not in SESSION_EVENTS  # derived by the library, never recorded


def test_a_table_missing_an_event_type_is_detected() -> None:
    partial = EventTable[Any](
        "partial", dict.fromkeys(SESSION_EVENTS - {S.SessionRenamed}, IGNORED)
    )
    with pytest.raises(UndeclaredEvent) as raised:
        partial.check()
    assert raised.value.view == "partial"
    assert raised.value.event_types == ["SessionRenamed"]


def started_and_renamed() -> list[Any]:
    """A session's first two stored events: its start and a rename."""
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = sessions.start_session(owner="ann", owner_name="Ann").session_id
    sessions.rename(session_id=session_id, actor="ann", title="Renamed")
    events = list(sessions.events.get(session_id))
    sessions.close()
    return events


def test_an_event_of_an_undecided_type_raises_and_an_ignored_one_has_no_handler() -> None:
    started, renamed = started_and_renamed()
    table = EventTable[Any]("partial", {S.SessionRenamed: IGNORED})
    with pytest.raises(UndeclaredEvent):
        table.handler(started)
    assert table.handler(renamed) is None


def test_the_session_view_goes_past_an_event_it_has_no_decision_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started, renamed = started_and_renamed()
    monkeypatch.setattr(
        SessionView, "HANDLERS", EventTable[Any]("session", {S.SessionRenamed: IGNORED})
    )
    view = SessionView(started.originator_id)
    view.apply(started)
    view.apply(renamed)
    assert view.version == 2
    assert view.title == ""


def test_a_view_names_the_topics_it_ignores_so_that_its_updater_need_not_decode_them() -> None:
    table = EventTable[Any]("partial", {S.SessionRenamed: IGNORED, S.SessionStarted: len})
    assert table.ignored_topics == {stored_topic(S.SessionRenamed)}
