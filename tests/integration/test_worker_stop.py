"""Stopping the turn worker waits out its calls still running in worker threads, so that none
outlives the store closed after it (on SQLite such a call crashed the process); a call whose
caller was cancelled before a thread took it never runs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.locks import NarrationLocks
from api.narration.demo import DemoNarrator
from api.thread_trips import ThreadTrips
from api.worker import TurnWorker
from domain.application import Sessions
from projections.session_views import SessionViews
from tests.support.stores import StoreConfig

WAIT_S = 10.0


class SlowSweep:
    """A sweep for pending sessions that holds its thread until let go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished_at: float | None = None

    def __call__(self) -> list[str]:
        self.entered.set()
        self.release.wait(WAIT_S)
        self.finished_at = time.monotonic()
        return []


def test_stop_returns_only_after_the_sweep_running_in_a_thread_has_returned(
    sessions: Sessions, store: StoreConfig
) -> None:
    sweep = SlowSweep()
    locks = NarrationLocks(store.database_url)

    async def start_then_stop() -> float:
        worker = TurnWorker(
            sessions, SessionViews(sessions), DemoNarrator(), locks, pending_sessions=sweep
        )
        await worker.start()
        assert await asyncio.to_thread(sweep.entered.wait, WAIT_S)
        threading.Timer(0.3, sweep.release.set).start()
        await worker.stop()
        return time.monotonic()

    try:
        stopped_at = asyncio.run(start_then_stop())
    finally:
        locks.close()
    assert sweep.finished_at is not None
    assert sweep.finished_at <= stopped_at


def test_a_call_cancelled_before_a_thread_took_it_never_runs() -> None:
    trips = ThreadTrips()
    ran: list[str] = []
    gate = threading.Event()

    async def scenario() -> None:
        from anyio import to_thread  # noqa: PLC0415

        limiter = to_thread.current_default_thread_limiter()
        limiter.total_tokens = 1  # one thread: the second call must queue
        first = asyncio.create_task(trips.run(gate.wait, WAIT_S))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(trips.run(ran.append, "second"))
        await asyncio.sleep(0.05)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        gate.set()
        await first
        assert await to_thread.run_sync(trips.wait_out, WAIT_S)

    asyncio.run(scenario())
    assert ran == []
