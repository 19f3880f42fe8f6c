"""Writes of a loaded session without the store's lock, on both stores, by two applications on
one store acting as two processes: a copy that fell behind loses its save or is asked again,
never answers from stale state, and the session's versions stay whole and in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import pytest

from domain.adapters import event_store
from domain.application import Sessions
from domain.application.loaded import UNLOCKED_RUN
from domain.application.play import TooManyPendingTurns
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig

OWNER, PLAYER = "owner-1", "player-1"


@pytest.fixture
def locks_taken(monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    """The sessions whose store lock a write took (each time; on PostgreSQL only)."""
    taken: list[UUID] = []
    real = event_store.RecorderAccess.hold

    @contextmanager
    def counted(self: Any, session_id: UUID) -> Iterator[int | None]:
        taken.append(session_id)
        with real(self, session_id) as head:
            yield head

    monkeypatch.setattr(event_store.RecorderAccess, "hold", counted)
    return taken


def turn_texts(sessions: Sessions, session_id: UUID) -> list[str]:
    events = list(sessions.events.get(session_id))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    return [e.text for e in events if type(e).__name__ == "TurnSubmitted"]


def test_a_loaded_session_takes_no_lock_until_another_process_writes_it(
    make_sessions: SessionsFactory, locks_taken: list[UUID]
) -> None:
    mine, other = make_sessions(), make_sessions()
    sid = mine.start_session(owner=OWNER, owner_name="O").session_id
    for n in range(3):
        mine.submit_turn(session_id=sid, actor=OWNER, text=f"mine {n}")
    assert locks_taken == []  # the copy kept since the start was the head every time

    other.submit_turn(session_id=sid, actor=OWNER, text="other")  # not loaded there: locked
    assert locks_taken == [sid]
    # The first process's copy is one version behind: its save loses, and it writes again
    # under the lock, after the other's turn; then the session stays contended for it.
    accepted = mine.submit_turn(session_id=sid, actor=OWNER, text="mine again")
    assert accepted.version == 6
    mine.submit_turn(session_id=sid, actor=OWNER, text="mine last")
    assert locks_taken == [sid, sid, sid]
    assert turn_texts(other, sid) == [
        "mine 0",
        "mine 1",
        "mine 2",
        "other",
        "mine again",
        "mine last",
    ]


def test_a_copy_behind_the_store_does_not_refuse_what_the_store_allows(
    make_sessions: SessionsFactory,
) -> None:
    """The player joined through the other process: the first one's copy says they are no
    member, so the turn is asked again against the store, and accepted."""
    mine, other = make_sessions(), make_sessions()
    sid = mine.start_session(owner=OWNER, owner_name="O").session_id
    mine.submit_turn(session_id=sid, actor=OWNER, text="first")
    invite = other.issue_invite(session_id=sid, actor=OWNER)
    other.accept_invite(token=invite.token, user_id=PLAYER, display_name="Ann")
    accepted = mine.submit_turn(session_id=sid, actor=PLAYER, text="the player's turn")
    assert accepted.version == 5
    assert turn_texts(mine, sid) == ["first", "the player's turn"]


def test_a_copy_behind_the_store_does_not_allow_what_the_store_refuses(
    make_sessions: SessionsFactory,
) -> None:
    """Two turns wait for narration, written through the other process: the first one's copy
    sees none waiting, but the cap is kept against the store and nothing is written."""
    mine, other = make_sessions(), make_sessions()
    sid = mine.start_session(owner=OWNER, owner_name="O").session_id
    mine.submit_turn(session_id=sid, actor=OWNER, text="first", max_pending=2)
    other.submit_turn(session_id=sid, actor=OWNER, text="second", max_pending=2)
    with pytest.raises(TooManyPendingTurns):
        mine.submit_turn(session_id=sid, actor=OWNER, text="third", max_pending=2)
    assert turn_texts(other, sid) == ["first", "second"]
    assert mine.get(sid).version == 3


def test_a_repeated_turn_answers_its_first_version_when_the_other_process_took_it(
    make_sessions: SessionsFactory,
) -> None:
    mine, other = make_sessions(), make_sessions()
    sid = mine.start_session(owner=OWNER, owner_name="O").session_id
    mine.submit_turn(session_id=sid, actor=OWNER, text="first")
    taken = other.submit_turn(session_id=sid, actor=OWNER, text="once", idempotency_key="k1")
    again = mine.submit_turn(session_id=sid, actor=OWNER, text="once", idempotency_key="k1")
    assert (again.turn_id, again.version, again.repeated) == (taken.turn_id, taken.version, True)
    assert turn_texts(mine, sid) == ["first", "once"]


def test_every_few_saves_of_one_process_take_the_lock_so_others_queued_on_it_get_through(
    make_sessions: SessionsFactory, locks_taken: list[UUID], store: StoreConfig
) -> None:
    """On PostgreSQL, whose lock other processes queue on; the SQLite store's lock keeps no
    one waiting, so its saves never take it, nor read the store to catch up."""
    sessions = make_sessions()
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    reads = count_calls(sessions.events, "get")
    for n in range(3 * UNLOCKED_RUN + 3):
        sessions.submit_turn(session_id=sid, actor=OWNER, text=f"turn {n}")
    if store.database_url:
        # Each run of UNLOCKED_RUN saves without the lock is followed by one with it.
        assert len(locks_taken) == 3
    else:
        assert (locks_taken, reads) == ([], [])
    assert len(turn_texts(sessions, sid)) == 3 * UNLOCKED_RUN + 3


def count_calls(target: object, name: str) -> list[object]:
    """The calls made from now on to ``target.name`` (each one's arguments)."""
    calls: list[object] = []
    real = getattr(target, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    setattr(target, name, counted)
    return calls
