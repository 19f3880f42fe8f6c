"""A drain keeps its narration lock for ``LINGER_S`` after its last turn: a turn asked for in
that time is narrated without taking the lock again, and looked up on the event loop; past it,
or while no other slot is free, the lock is let go, and ``idle`` does not wait the linger
out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import pytest

from api.locks import Lease, NarrationLocks
from api.narration.demo import DemoNarrator
from api.worker import LINGER_S, TurnWorker
from domain.application import Sessions
from projections.session_views import SessionViews
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig
from tests.support.story import GM, start_story

WAIT_S = 10.0


class CountedLocks(NarrationLocks):
    """Narration locks that remember each acquisition (True when it got the lock)."""

    def __init__(self, database_url: str | None, *, max_sessions: int) -> None:
        super().__init__(database_url, max_sessions=max_sessions)
        self.acquired: list[bool] = []

    def acquire(self, session_id: UUID, *, timeout_s: float = 30.0) -> Lease | None:
        lease = super().acquire(session_id, timeout_s=timeout_s)
        self.acquired.append(lease is not None)
        return lease


class CountedWorker(TurnWorker):
    """A turn worker that counts its looks for waiting turns made in a worker thread."""

    looks_in_threads = 0

    def _pending(self, session_id: UUID, at_least: int | None) -> list[str]:
        self.looks_in_threads += 1
        return super()._pending(session_id, at_least)


@asynccontextmanager
async def worker_on(
    sessions: Sessions, store: StoreConfig, *, slots: int = 4
) -> AsyncIterator[tuple[CountedWorker, list[bool]]]:
    """A started worker, and each lock acquisition it makes (True when it got the lock)."""
    locks = CountedLocks(store.database_url, max_sessions=slots)
    views = SessionViews(sessions)
    sessions.on_recorded.append(views.written)
    worker = CountedWorker(sessions, views, DemoNarrator(), locks, pending_sessions=list)
    await worker.start()
    try:
        yield worker, locks.acquired
    finally:
        await worker.stop()
        locks.close()
        sessions.on_recorded.remove(views.written)


async def narrated_turn(
    sessions: Sessions, worker: TurnWorker, watcher: Sessions, session_id: UUID
) -> None:
    """Submit a turn and ask for its narration, as the turn route does; then wait until no
    turn of the session waits, as another process (``watcher``) reads the store: the worker's
    own Sessions is left alone, as a test that waited through it would hold the session from
    the worker's looks."""
    accepted = await asyncio.to_thread(
        sessions.submit_turn, session_id=session_id, actor=GM, text="I wait"
    )
    worker.schedule(session_id, accepted.version)

    def waiting() -> list[str]:
        return watcher.read(session_id, lambda session: session.pending_turns())

    deadline = time.monotonic() + WAIT_S
    while await asyncio.to_thread(waiting):
        assert time.monotonic() < deadline, "the turns were not narrated"
        await asyncio.sleep(0.01)


@pytest.fixture
def story(sessions: Sessions, make_sessions: SessionsFactory) -> tuple[UUID, Sessions]:
    """A new story, and another process's Sessions that watches it (see ``narrated_turns``)."""
    return start_story(sessions), make_sessions()


async def narrated_turns(
    sessions: Sessions, worker: TurnWorker, story: tuple[UUID, Sessions], count: int
) -> None:
    """``count`` turns of the story, each narrated before the next is submitted."""
    session_id, watcher = story
    for _ in range(count):
        await narrated_turn(sessions, worker, watcher, session_id)


def test_a_turn_asked_for_while_the_drain_lingers_needs_no_new_lock(
    sessions: Sessions, store: StoreConfig, story: tuple[UUID, Sessions]
) -> None:
    async def play() -> None:
        async with worker_on(sessions, store) as (worker, acquired):
            await narrated_turns(sessions, worker, story, 5)
            assert acquired == [True]  # one lock for the five turns back to back
            # Only the first look needed a thread: the others were made on the event loop,
            # from the session and view this process holds.
            assert worker.looks_in_threads == 1
            await asyncio.sleep(LINGER_S * 2)  # let go after the linger
            await narrated_turns(sessions, worker, story, 1)
            assert acquired == [True, True]

    asyncio.run(play())


def test_no_drain_lingers_while_every_slot_is_taken(
    sessions: Sessions, store: StoreConfig, story: tuple[UUID, Sessions]
) -> None:
    async def play() -> None:
        async with worker_on(sessions, store, slots=1) as (worker, acquired):
            await narrated_turns(sessions, worker, story, 3)
            assert acquired == [True, True, True]

    asyncio.run(play())


def test_idle_does_not_wait_out_a_linger(
    sessions: Sessions, store: StoreConfig, story: tuple[UUID, Sessions]
) -> None:
    async def play() -> float:
        async with worker_on(sessions, store) as (worker, _acquired):
            await narrated_turns(sessions, worker, story, 1)
            started = time.monotonic()
            await worker.idle()
            return time.monotonic() - started

    assert asyncio.run(play()) < LINGER_S / 2
