"""The turn worker: narrates each session's pending turns one at a time, in submit order.

Single flight per session by one asyncio task per session in this process and an advisory
lock across processes; pending turns are found again at start-up and by a periodic sweep, so a
turn submitted to an instance that died is narrated by whichever instance runs next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final
from uuid import UUID

from anyio import to_thread

from api.locks import Lease, NarrationLocks
from api.narration import (
    INTERNAL_FAILURE,
    Narration,
    NarrationFailed,
    NarrationRequest,
    Narrator,
)
from api.thread_trips import ThreadTrips
from api.turn_request import narration_request
from domain.application import NarrationStored, Sessions
from domain.errors import GaiaError
from projections.session_views import SessionViews

log = logging.getLogger(__name__)

# How long stop waits for calls in threads that its cancelled tasks left running: a store
# query ends in milliseconds, and the whole shutdown has 8 s (api.server.GRACEFUL_SHUTDOWN_S).
STOP_WAIT_S: Final = 2.0
# How long a drain keeps its lock and slot after the last waiting turn, in case the session
# asks again (turns back to back, or several players at one table): a turn then asked for is
# narrated without taking the lock again. Not while every slot is taken.
LINGER_S: Final = 0.2

DeltaPublisher = Callable[[UUID, UUID, str], Any]  # (session, turn, text piece)
Upcoming = tuple[UUID, NarrationRequest] | None  # the next turn to narrate and its request
NarrationListener = Callable[[UUID, UUID, Narration], None]  # (session, turn, narration)


class TurnWorker:
    def __init__(
        self,
        sessions: Sessions,
        views: SessionViews,
        narrator: Narrator,
        locks: NarrationLocks,
        *,
        pending_sessions: Callable[[], list[str]],
        sweep_interval_s: float = 30.0,
        deadline_s: float = 300.0,
        publish_delta: DeltaPublisher | None = None,
        wants_deltas: Callable[[UUID], bool] = lambda _sid: False,
        on_narrated: NarrationListener | None = None,
    ) -> None:
        self.sessions, self.views, self.narrator, self.locks = sessions, views, narrator, locks
        self.pending_sessions = pending_sessions
        self.sweep_interval_s = sweep_interval_s
        # A provider that keeps trickling bytes never trips a read timeout: bound the whole turn.
        self.deadline_s = deadline_s
        # Live streams: pieces of a streaming narration go to sessions somebody watches.
        self.publish_delta = publish_delta
        self.wants_deltas = wants_deltas
        # Told (from a worker thread) about each stored narration: generated media starts
        # there. It must return at once; the next turn does not wait for it.
        self.on_narrated = on_narrated
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._dirty: set[UUID] = set()
        # The latest version this process wrote to each session and asked to narrate: what
        # the drain's first look needs the loaded session and its view to have reached.
        self._written: dict[UUID, int] = {}
        # Drains keeping their lock a moment after their last turn: resolved True when the
        # session asks again, False when they should let go at once.
        self._lingering: dict[UUID, asyncio.Future[bool]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(locks.capacity)
        self._sweeper: asyncio.Task[None] | None = None
        self._trips = ThreadTrips()  # the store is closed after stop: no call may outlive it

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="turn-sweeper")

    async def stop(self) -> None:
        tasks = [t for t in [self._sweeper, *self._tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A cancelled task stopped waiting for its call in a thread, which may still run.
        if not await to_thread.run_sync(self._trips.wait_out, STOP_WAIT_S):
            log.warning("a call in a thread still runs after %.0f s; stopping anyway", STOP_WAIT_S)

    def schedule(self, session_id: UUID, written: int | None = None) -> None:
        """Make sure the session's pending turns get narrated; safe from any thread. A caller
        that has just written the session gives the version it wrote (``written``)."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._schedule, session_id, written)

    def _schedule(self, session_id: UUID, written: int | None = None) -> None:
        if written is not None:
            self._written[session_id] = max(written, self._written.get(session_id, 0))
        task = self._tasks.get(session_id)
        if task is not None and not task.done():
            self._dirty.add(session_id)  # the running task looks again before it ends
            self._end_lingering(session_id, asked=True)
            return
        self._tasks[session_id] = asyncio.create_task(
            self._drain(session_id), name=f"narrate-{session_id}"
        )

    async def idle(self) -> None:
        """Wait until no session is being narrated (tests and graceful shutdown); a drain
        that only lingers lets go at once."""
        while any(not t.done() for t in self._tasks.values()):
            for session_id in list(self._lingering):
                self._end_lingering(session_id, asked=False)
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _end_lingering(self, session_id: UUID, *, asked: bool) -> None:
        waiter = self._lingering.get(session_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(asked)

    async def _asked_again(self, session_id: UUID) -> bool:
        """Whether the session asks for narration again within ``LINGER_S`` (at once if it
        already has); False at once while no slot is free for another session."""
        if session_id in self._dirty:
            return True
        if self._slots.locked() or self._loop is None:
            return False
        waiter = self._loop.create_future()
        self._lingering[session_id] = waiter
        try:
            return await asyncio.wait_for(waiter, LINGER_S)
        except TimeoutError:
            return False
        finally:
            del self._lingering[session_id]

    async def _sweep_forever(self) -> None:
        while True:
            try:
                for sid in await self._trips.run(self.pending_sessions):
                    self._schedule(UUID(sid))
            except Exception:
                log.exception("sweep for pending turns failed")
            await asyncio.sleep(self.sweep_interval_s)

    async def _drain(self, session_id: UUID) -> None:
        try:
            async with self._slots:  # at most as many sessions at once as there are lock slots
                await self._drain_locked(session_id)
        except Exception:
            log.exception("narration stopped", extra={"session_id": str(session_id)})
        finally:
            self._tasks.pop(session_id, None)
            if session_id in self._dirty:
                self._dirty.discard(session_id)
                self._schedule(session_id)

    async def _drain_locked(self, session_id: UUID) -> None:
        """Hold the cross-instance lock and narrate until no turn of the session waits, and
        none is asked for within ``LINGER_S`` after the last.

        Each narration's write and the look for the next turn share one trip to a worker
        thread, as do taking the lock and the first look, and the last write and letting the
        lock go when no slot is free to linger in: a hop costs more than any of them on a busy
        instance."""
        # Whatever asks for this session from here on is looked at by this drain or the next.
        asked = session_id in self._dirty
        self._dirty.discard(session_id)
        written = self._written.pop(session_id, None)
        first = await self._trips.run(self._lock_then_next, session_id, written)
        if first is None:
            if asked:  # another instance narrates; keep the request for the next drain
                self._dirty.add(session_id)
            return
        held, upcoming = first
        try:
            while not held.released:
                if upcoming is None:
                    if not await self._asked_again(session_id):
                        break
                    self._dirty.discard(session_id)  # asked again while the lock is held
                    written = self._written.pop(session_id, None)
                    at_hand, upcoming = self._next_at_hand(session_id, written)
                    if not at_hand:
                        upcoming = await self._trips.run(self._next, session_id, None, written)
                    continue
                store = await self._narrate(session_id, *upcoming)
                self._dirty.discard(session_id)
                linger = not self._slots.locked()
                upcoming = await self._trips.run(self._store_then_next, store, held, linger)
        finally:
            if not held.released:
                await self._trips.run(held.release)

    def _lock_then_next(
        self, session_id: UUID, written: int | None
    ) -> tuple[_Held, Upcoming] | None:
        """Take the session's lock and look for its first waiting turn; None without the lock.
        With no turn waiting the lock is let go at once."""
        lease = self.locks.acquire(session_id)
        if lease is None:
            return None
        held = _Held(self.locks, lease)
        try:
            upcoming = self._next(session_id, at_least=written)
        except BaseException:
            held.release()
            raise
        if upcoming is None:
            held.release()
        return held, upcoming

    def _next(
        self, session_id: UUID, waiting: Sequence[str] | None = None, at_least: int | None = None
    ) -> Upcoming:
        """The first turn waiting for narration and its request, or None when none waits;
        ``waiting`` is what the last write saw, else the session is read.

        With ``at_least`` (the version this process last wrote to the session, when it asked
        for this look), the session and its view are read as this process holds them once they
        stand there, without a read of the store: a turn another instance adds meanwhile is
        narrated by that instance, which waits for this lock (``NarrationLocks.acquire``)."""
        pending = self._pending(session_id, at_least) if waiting is None else waiting
        if not pending:
            return None
        turn_id = UUID(pending[0])
        return turn_id, self._request_for(session_id, turn_id, at_least)

    def _next_at_hand(self, session_id: UUID, written: int | None) -> tuple[bool, Upcoming]:
        """``_next`` run here, on the event loop, from the loaded session and the view as
        this process holds them: (True, what ``_next`` would give), or (False, None) when
        either is busy, or not yet at ``written``, and the look needs a worker thread. The
        lock is held already, so nothing here waits: this saves a trip to a thread per turn
        asked for while a drain lingers."""
        if written is None:
            return False, None
        pending = self.sessions.read_held(
            session_id, lambda session: session.pending_turns(), written
        )
        if pending is None:
            return False, None
        if not pending:
            return True, None
        turn_id = UUID(pending[0])
        request = partial(narration_request, str(turn_id))
        found = self.views.cached(session_id, request, at_least=written)
        return (False, None) if found is None else (True, (turn_id, found))

    def _store_then_next(
        self, store: Callable[[], NarrationStored | None], held: _Held, linger: bool
    ) -> Upcoming:
        """Store a narration and look for the next turn (in what the write saw, when it was
        stored); with none waiting, let the lock go unless the drain will ``linger``."""
        stored = store()
        session_id = held.lease.session_id
        if stored is None:
            upcoming = self._next(session_id)
        else:
            upcoming = self._next(session_id, stored.waiting, at_least=stored.version)
        if upcoming is None and not linger:
            held.release()
        return upcoming

    def _pending(self, session_id: UUID, at_least: int | None) -> list[str]:
        # Read from the loaded session: a copy of the whole session per look costs more as
        # it grows.
        return self.sessions.read(
            session_id, lambda session: session.pending_turns(), at_least=at_least
        )

    async def _narrate(
        self, session_id: UUID, turn_id: UUID, request: NarrationRequest
    ) -> Callable[[], NarrationStored | None]:
        """Narrate the turn; returns the write that stores the outcome (run in a thread)."""
        started = time.monotonic()
        on_delta = None
        if self.publish_delta is not None and self.wants_deltas(session_id):
            publish = self.publish_delta

            async def on_delta(text: str) -> None:
                publish(session_id, turn_id, text)

        try:
            async with asyncio.timeout(self.deadline_s):
                narration: Narration = await self.narrator.narrate(request, on_delta)
        except TimeoutError:
            message = f"no narration within {self.deadline_s:.0f} s"
            return partial(self._record_failure, session_id, turn_id, "timeout", message, 1)
        except NarrationFailed as failure:
            return partial(
                self._record_failure,
                session_id,
                turn_id,
                failure.error_kind,
                failure.message,
                failure.attempts,
            )
        except Exception:
            log.exception("narrator crashed", extra={"session_id": str(session_id)})
            # Members read the message; the crash itself is in the log.
            return partial(
                self._record_failure, session_id, turn_id, "internal", INTERNAL_FAILURE, 1
            )
        latency_ms = int((time.monotonic() - started) * 1000)
        return partial(self._record, session_id, turn_id, narration, latency_ms)

    def _request_for(
        self, session_id: UUID, turn_id: UUID, at_least: int | None
    ) -> NarrationRequest:
        # Built from the view itself, not a copy of it: what it keeps are new lists and dicts.
        request = partial(narration_request, str(turn_id))
        return self.views.read(session_id, request, at_least=at_least)

    def _record(
        self, sid: UUID, turn_id: UUID, narration: Narration, latency_ms: int
    ) -> NarrationStored | None:
        """Store the narration (with the turns then still waiting), or None when it was
        dropped."""
        try:
            stored = self.sessions.complete_narration(
                session_id=sid,
                turn_id=turn_id,
                narrative=narration.narrative,
                answer=narration.answer,
                player_options=narration.player_options,
                structured=narration.structured,
                provider=narration.provider,
                model=narration.model,
                latency_ms=latency_ms,
                degraded=narration.degraded,
            )
        except GaiaError as error:  # rewound or narrated elsewhere meanwhile: nothing to store
            log.info("narration dropped: %s", error.message, extra={"session_id": str(sid)})
            return None
        if self.on_narrated is not None:
            self.on_narrated(sid, turn_id, narration)
        return stored

    def _record_failure(
        self, sid: UUID, turn_id: UUID, kind: str, message: str, attempts: int
    ) -> NarrationStored | None:
        """Store the failure (with the turns then still waiting), or None when it was not
        stored."""
        try:
            stored = self.sessions.fail_narration(
                session_id=sid,
                turn_id=turn_id,
                error_kind=kind,
                message=message[:500],
                attempts=attempts,
            )
        except GaiaError as error:
            log.info("failure not recorded: %s", error.message, extra={"session_id": str(sid)})
            return None
        return stored


class _Held:
    """A narration lock this worker holds, let go exactly once."""

    __slots__ = ("lease", "locks", "released")

    def __init__(self, locks: NarrationLocks, lease: Lease) -> None:
        self.locks, self.lease, self.released = locks, lease, False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.locks.release(self.lease)
