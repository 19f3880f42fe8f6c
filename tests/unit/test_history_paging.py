"""Visible history read in pages forwards and backwards, newest first, and as a narration request
reads it: at every version of stories with retried and failed narrations and rewinds, each is
cut from what the plain definition of visible history gives (every message a rewind did not
hide, only the latest reply of each turn, in version order)."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

import pytest

from api.turn_request import HISTORY_MESSAGES, narration_request
from domain.application import Sessions
from domain.session import is_hidden
from projections.history import REPLY_KINDS, SessionView
from tests.support.story import play_story, start_story

EVENTS = 300
LIMITS = (1, 3, 50)


def visible(view: SessionView) -> list[dict[str, Any]]:
    """Visible history by its definition, one message at a time."""
    shown = [m for m in view.messages if not is_hidden(m["version"], view.hidden)]
    latest: dict[str, int] = {}
    for message in shown:
        if message["kind"] in REPLY_KINDS and message["turn_id"] is not None:
            latest[message["turn_id"]] = message["version"]
    return view.inherited + [
        m
        for m in shown
        if m["kind"] not in REPLY_KINDS
        or m["turn_id"] is None
        or latest[m["turn_id"]] == m["version"]
    ]


@pytest.fixture(scope="module", params=[3, 11])
def views(request: pytest.FixtureRequest) -> list[SessionView]:
    """The view after every event of one story, each a copy of the fold's own."""
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id: UUID = start_story(sessions)
    play_story(sessions, session_id, events=EVENTS, seed=request.param)
    view = SessionView(session_id)
    folded = []
    for event in sessions.events.get(session_id):
        view.apply(event)
        folded.append(copy.deepcopy(view))
    sessions.close()
    return folded


def test_the_story_retries_and_rewinds(views: list[SessionView]) -> None:
    last = views[-1]
    assert last.hidden, "no rewind: the test would not see hidden messages"
    assert len(visible(last)) < len(last.messages)
    replies = [m["turn_id"] for m in last.messages if m["kind"] in REPLY_KINDS]
    assert len(replies) > len(set(replies)), "no turn answered twice"


@pytest.mark.parametrize("seed", [3, 11, 19])
def test_visible_history_read_after_each_event_of_a_fold_is_its_definition(seed: int) -> None:
    """One view read after every event it folds: most answers extend the one before."""
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=EVENTS, seed=seed)
    view = SessionView(session_id)
    answers = []
    for event in sessions.events.get(session_id):
        view.apply(event)
        answers.append(copy.deepcopy((view.visible_messages(), visible(view))))
        if event.originator_version == 60:
            view.inherited = [m | {"version": m["version"] - 61} for m in visible(view)[:20]]
    sessions.close()
    assert all(answer == expected for answer, expected in answers)


def test_visible_history_is_its_definition_at_every_version(views: list[SessionView]) -> None:
    for view in views:
        assert view.visible_messages() == visible(view)


@pytest.mark.parametrize("limit", LIMITS)
def test_pages_forwards_are_slices_with_the_next_cursor(
    views: list[SessionView], limit: int
) -> None:
    for view in views[::7] + views[-1:]:
        expected = visible(view)
        versions = [m["version"] for m in expected]
        for after in [None, -1, 0, *versions, versions[-1] + 1 if versions else 1]:
            later = [m for m in expected if after is None or m["version"] > after]
            page, next_after = view.history_page(after, limit)
            assert page == later[:limit]
            assert next_after == (page[-1]["version"] if len(later) > limit else None)


@pytest.mark.parametrize("limit", LIMITS)
def test_pages_backwards_are_slices_with_both_cursors(views: list[SessionView], limit: int) -> None:
    for view in views[::7] + views[-1:]:
        expected = visible(view)
        versions = [m["version"] for m in expected]
        for before in [0, 1, *versions, 2**62]:
            older = [m for m in expected if m["version"] < before]
            page, previous, newer = view.history_before(before, limit)
            assert page == older[-limit:]
            assert previous == (page[0]["version"] if len(older) > limit else None)
            assert newer == (page[-1]["version"] if page and len(expected) > len(older) else None)


def test_newest_first_is_visible_history_backwards(views: list[SessionView]) -> None:
    for view in views:
        assert list(view.visible_newest_first()) == visible(view)[::-1]
    inheriting = copy.deepcopy(views[-1])
    inheriting.inherited = [m | {"version": -n} for n, m in enumerate(visible(views[40]))][::-1]
    assert list(inheriting.visible_newest_first()) == visible(inheriting)[::-1]


def test_a_narration_request_holds_the_turn_and_the_visible_messages_before_it(
    views: list[SessionView],
) -> None:
    assert len(visible(views[-1])) > 2 * HISTORY_MESSAGES
    for view in views[::5] + views[-1:]:
        shown = visible(view)
        turns = {m["turn_id"] for m in view.messages if m["role"] == "player" and m["turn_id"]}
        for turn_id in [*sorted(turns), "no-such-turn"]:
            index = next(
                (
                    n
                    for n, m in enumerate(shown)
                    if m["turn_id"] == turn_id and m["role"] == "player"
                ),
                len(shown),
            )
            before = shown[max(0, index - HISTORY_MESSAGES) : index]
            request = narration_request(turn_id, view)
            assert request.turn_text == (shown[index]["text"] if index < len(shown) else "")
            assert [entry.text for entry in request.history] == [
                m["text"] for m in before if m["role"] in ("player", "narrator")
            ]
