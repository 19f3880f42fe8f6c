"""Keeps a checkpointed view current: reads the global event log after the view's position and
applies each event with the new position in one transaction (exactly once, resumable).

``eventsourcing``'s ``ProjectionRunner`` is not used: it follows the log through the
application recorder's ``subscribe()``, which the SQLite recorder (the default store) lacks
(``SQLiteApplicationRecorder.subscribe`` raises ``NotImplementedError`` in eventsourcing 9.5),
and it stops for good on the first exception a projection raises. ``ViewUpdater`` polls
``select_notifications`` instead, which every recorder answers.

It wakes when this process writes and polls for writes made by other processes; an error in a
view is logged and retried with backoff rather than stopping the view for good. While writes
keep coming (a wake within ``settle_s`` of the last read), it lets them gather for the rest of
that window, so one read and one transaction cover many writes; a wake after a quiet spell is
read at once, and a request waiting for a position cuts the window short. Requests wait for a
position with ``wait_until``, on the event loop: a thousand waiting requests hold no worker
thread, so they cannot starve the rest of the service.

An event the view cannot apply (it fails the same way on every try, unlike a database out of
reach) is skipped and recorded: logged with its session and position, counted for
``on_skip`` listeners (a metric), and kept as ``last_skipped`` for ``/readyz`` to show. One
bad event never halts the view for every later one, nor does a rebuild stop on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from domain.application import Sessions
from projections.database import Cursor, ViewDatabase
from projections.gc_pause import collector_paused

log = logging.getLogger(__name__)

PAUSE_FROM = 100  # events of a batch applied with the cycle collector paused (see _apply)
# How far past its stored position a view may go over events it does not read before the
# position is written anyway (see ``_read_and_apply``): what a restart reads again at most.
UNSTORED_MAX = 5000


class CheckpointedView(Protocol):
    """A view folded from every session's events into tables of the view database, where its
    position is stored beside its rows (``ViewUpdater`` writes both in one transaction)."""

    name: str

    def create_tables(self, cur: Cursor) -> None: ...

    def clear(self, cur: Cursor) -> None: ...

    def apply(self, cur: Cursor, event: Any) -> None: ...


@runtime_checkable
class BatchedView(CheckpointedView, Protocol):
    """A view that can also apply a batch of events at once, leaving the rows ``apply`` would
    leave event by event (fewer statements; the updater prefers it)."""

    def apply_batch(self, cur: Cursor, events: Sequence[Any]) -> None: ...


@dataclass(frozen=True, eq=False)  # each waiter is itself, whatever it waits for
class _Waiter:
    """A coroutine waiting, on its own event loop, for the view to reach ``position``."""

    position: int
    loop: asyncio.AbstractEventLoop
    reached: asyncio.Future[None]

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.reached.done():
            self.reached.set_result(None)


class ViewUpdater:
    """Keeps one checkpointed view up to date by polling the notification log."""

    def __init__(
        self,
        sessions: Sessions,
        database: ViewDatabase,
        view: CheckpointedView,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 500,
        settle_s: float = 0.05,
        on_skip: Sequence[Callable[[str], None]] = (),
    ) -> None:
        self.sessions = sessions
        self.database = database
        self.view = view
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        # How long writes in quick succession may gather: a reader that does not wait for a
        # position may find the view this much behind the last of them.
        self.settle_s = settle_s
        self.last_error: str | None = None
        self.skipped = 0  # events this updater could not apply and went past
        self.last_skipped: dict[str, Any] | None = None
        # Called with the view's name for every skipped event (a metric); must not raise.
        self.on_skip: list[Callable[[str], None]] = list(on_skip)
        self._wake = threading.Event()
        self._hurry = threading.Event()  # somebody waits for a position: read now
        self._read_at = float("-inf")  # when the last read of the log ended (monotonic)
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._waiters: list[_Waiter] = []  # guarded by _progress
        self._thread: threading.Thread | None = None
        self._more = True  # the last batch read was full: more events may follow at once
        with database.ddl() as cur:
            view.create_tables(cur)
            self._position = database.position(cur, view.name)
        # The position this updater last stored or found stored: behind ``_position`` after
        # batches the view does not read, which move it in memory only.
        self._stored = self._position

    @property
    def position(self) -> int:
        return self._position

    @property
    def waiting(self) -> int:
        """How many coroutines wait in ``wait_until`` right now."""
        with self._progress:
            return len(self._waiters)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"view-{self.view.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._hurry.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self, _position: int | None = None) -> None:
        self._wake.set()

    async def wait_until(self, position: int, timeout: float) -> bool:
        """Wait, without holding a thread, until the view has applied ``position`` (or timeout);
        True if it has."""
        if self._position >= position:
            return True
        loop = asyncio.get_running_loop()
        waiter = _Waiter(position, loop, loop.create_future())
        with self._progress:
            if self._position >= position:
                return True
            self._waiters.append(waiter)
        self._hurry.set()
        self.wake()
        try:
            await asyncio.wait_for(waiter.reached, timeout)
        except TimeoutError:
            return self._position >= position
        finally:
            with self._progress:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the view has applied ``position`` (or timeout); True if it has. For
        threads of our own; a request waits with ``wait_until``."""
        self._hurry.set()
        self.wake()
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
        return True

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                # A batch shorter than the limit reached the end of the log: no need to read
                # again to learn that; a later write wakes the loop, another process's is polled.
                while self.run_once() and self._more and not self._stop.is_set():
                    pass
                self._read_at = time.monotonic()
                failures, self.last_error = 0, None
                if not self._wake.wait(self.poll_interval_s):
                    self.store_position()  # quiet: no write for a whole poll interval
            except Exception as error:  # a view must outlive a bad moment of the database
                failures += 1
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("view %s failed", self.view.name)
                # wake() cuts the backoff short: a write, or the database answering again
                # after an outage, means it is worth trying now (stop() wakes it too).
                self._wake.wait(min(30.0, 0.2 * 2**failures))
                self._wake.clear()
                continue
            self._wake.clear()
            self._settle()

    def _settle(self) -> None:
        """Woken soon after the last read (writes keep coming): let more gather until
        ``settle_s`` after that read, unless somebody waits for a position meanwhile."""
        until = self._read_at + self.settle_s
        with self._progress:
            waited_for = bool(self._waiters)
        if not waited_for:
            remaining = until - time.monotonic()
            if remaining > 0:
                self._hurry.wait(remaining)
        self._hurry.clear()

    def run_once(self) -> int:
        """Apply the next batch of events; returns how many were applied. While catching up
        (the last batch was full) the batch is read and applied in the database's
        ``catch_up_turn``."""
        turn = self.database.catch_up_turn() if self._more else contextlib.nullcontext()
        with turn:
            return self._read_and_apply()

    def _read_and_apply(self) -> int:
        notifications = self.sessions.recorder.select_notifications(
            start=self._position, limit=self.batch_size, inclusive_of_start=False
        )
        self._more = len(notifications) >= self.batch_size
        if not notifications:
            return 0
        # Events of the topics the view never reads are not decoded (nor applied); the
        # position still moves past them.
        until = notifications[-1].id
        unread: frozenset[str] = getattr(self.view, "unread_topics", frozenset())
        if unread:
            read = len(notifications)
            notifications = [n for n in notifications if n.topic not in unread]
            if not notifications and until - self._stored < UNSTORED_MAX:
                # Nothing here changes a row: move past it in memory, and store the position
                # with the next batch that does, or once writes stop (``store_position``).
                self._moved_to(until)
                return read
        try:
            return self._apply(notifications, until, skip_failures=False)
        except self.database.unreachable:
            raise
        except Exception:  # noqa: BLE001 - any error of a view: retried event by event
            # Some event of the batch cannot be applied: apply the batch again one event at a
            # time, each in a savepoint, skipping those that fail. Only this rare path pays.
            return self._apply(notifications, until, skip_failures=True)

    def _apply(self, notifications: Sequence[Any], until: int, *, skip_failures: bool) -> int:
        """Apply ``notifications`` and move the view to ``until``; returns how many the view
        went past (at least 1).

        The cycle collector is paused while a large batch (a catch-up or a rebuild) is applied:
        its events and rows are freed by reference counting as soon as it is written, yet their
        allocations set off full collections of the whole heap (see ``projections.gc_pause``).
        The few events of a live batch are applied with the collector on, so that the pauses
        of views kept busy by steady writes never join into one that does not end."""
        paused = (
            collector_paused() if len(notifications) >= PAUSE_FROM else contextlib.nullcontext()
        )
        with paused, self.database.transaction() as cur:
            stored = self.database.position(cur, self.view.name, lock=True)
            if stored != self._stored:
                # Another updater (another instance, or a rebuild) moved the view: follow it.
                self._moved_to(stored, stored=True)
                self._more = True
                return 1  # read again from there
            to_event = self.sessions.mapper.to_domain_event
            if skip_failures:
                for notification in notifications:
                    self._apply_or_skip(cur, notification)
            elif isinstance(self.view, BatchedView):
                self.view.apply_batch(cur, [to_event(n) for n in notifications])
            else:
                for notification in notifications:
                    self.view.apply(cur, to_event(notification))
            self.database.set_position(cur, self.view.name, until)
        self._moved_to(until, stored=True)
        return max(1, len(notifications))

    def store_position(self) -> None:
        """Store the position the view reached past events it does not read, if it is not
        stored yet (the view's rows already stand there)."""
        if self._position != self._stored:
            self._apply([], self._position, skip_failures=False)

    def _moved_to(self, position: int, *, stored: bool = False) -> None:
        """The view now stands at ``position`` (``stored``: so does its stored position, as
        when it was found there): wake whoever waits for it."""
        if stored:
            self._stored = position
        with self._progress:
            self._position = position
            self._progress.notify_all()
            reached = [w for w in self._waiters if w.position <= position]
            self._waiters = [w for w in self._waiters if w.position > position]
        for waiter in reached:
            waiter.wake()

    def _apply_or_skip(self, cur: Cursor, notification: Any) -> None:
        cur.execute("SAVEPOINT gaia_view_event")
        try:
            event = self.sessions.mapper.to_domain_event(notification)
            self.view.apply(cur, event)
        except self.database.unreachable:
            raise
        except Exception as error:  # noqa: BLE001 - whatever an event makes a view raise
            cur.execute("ROLLBACK TO SAVEPOINT gaia_view_event")
            self._skip(notification, error)
        cur.execute("RELEASE SAVEPOINT gaia_view_event")

    def _skip(self, notification: Any, error: Exception) -> None:
        skipped = {
            "position": notification.id,
            "session_id": str(notification.originator_id),
            "version": notification.originator_version,
            "error": type(error).__name__,
        }
        log.error(
            "view %s skipped the event at position %d (session %s, version %d): %s",
            self.view.name,
            notification.id,
            skipped["session_id"],
            notification.originator_version,
            error,
            extra={"view": self.view.name} | skipped,
        )
        self.skipped += 1
        self.last_skipped = skipped
        for listener in self.on_skip:
            try:
                listener(self.view.name)
            except Exception:
                log.exception("on_skip listener failed")

    def rebuild(self) -> int:
        """Drop the view's rows and replay every event from the start; returns the position."""
        with self.database.transaction() as cur:
            self.view.clear(cur)
            self.database.set_position(cur, self.view.name, 0)
        self._moved_to(0, stored=True)
        while self.run_once():
            pass
        self.store_position()
        return self._position
