"""Group commit: concurrent writers of different sessions share one ``insert_events`` call, so
one table lock and one COMMIT (one WAL flush) carry many of their writes.

A writer hands over its stored events and waits. Whoever arrives while no commit is in flight
leads: it commits everything queued so far, its own events included, in one transaction. There
is no wait to gather a batch; a batch forms while the previous commit is in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)

# Notification ids of one writer's events, or None from a recorder that gives none.
Ids = Sequence[int] | None


class GroupCommit:
    """Commits the stored events of concurrent writers together, through one recorder.

    A batch is atomic. If it fails for any reason but a lost connection, each writer's events
    are committed again on their own, so that only a writer whose events are at fault (a
    version another process wrote first: IntegrityError) sees the error, and the others land
    once. A lost connection reaches every writer of the batch, as it would have alone. A writer
    returns only after the COMMIT that holds its events.

    Each waiting writer sleeps on a wake-up of its own: a finished commit wakes the writers it
    carried, and hands the lead to the first writer queued behind it, so that no commit wakes
    every waiting thread to find out whose turn it is.
    """

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder
        self._guard = threading.Lock()
        self._queue: list[_Writer] = []
        self._leading = False
        self.batches = 0  # transactions committed or tried, for tests and benchmarks

    def insert(self, stored_events: Sequence[StoredEvent]) -> Ids:
        """Commit ``stored_events`` (of one session) with whatever else is waiting; their
        notification ids, in order. Raises what committing them alone would have raised."""
        me = _Writer(stored_events)
        with self._guard:
            self._queue.append(me)
            follow = self._leading
            self._leading = True
        if follow:
            me.woken.wait()  # woken with its outcome, or to lead the next commit
            if me.outcome.done():
                return me.outcome.result()
        with self._guard:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        finally:
            for writer in batch:
                if not writer.outcome.done():  # the commit was interrupted: it holds nothing
                    writer.outcome.set_exception(InterfaceError("the commit was interrupted"))
            with self._guard:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            for writer in batch:
                writer.woken.set()
            if successor is not None:
                successor.woken.set()
        return me.outcome.result()

    def _commit(self, batch: list[_Writer]) -> None:
        if len(batch) == 1:
            self._alone(batch[0])
            return
        joined = [event for writer in batch for event in writer.events]
        try:
            self.batches += 1
            ids = self._recorder.insert_events(joined)
        except (OperationalError, InterfaceError) as error:
            for writer in batch:
                writer.outcome.set_exception(error)
        except Exception:  # noqa: BLE001 - one writer's fault: find it by committing alone
            for writer in batch:
                self._alone(writer)
        else:
            start = 0
            for writer in batch:
                end = start + len(writer.events)
                writer.outcome.set_result(None if ids is None else ids[start:end])
                start = end

    def _alone(self, writer: _Writer) -> None:
        try:
            self.batches += 1
            ids = self._recorder.insert_events(writer.events)
        except Exception as error:  # noqa: BLE001 - raised in the writer's thread
            writer.outcome.set_exception(error)
        else:
            writer.outcome.set_result(ids)


class _Writer:
    """One writer's events, what committing them came to, and its own wake-up."""

    __slots__ = ("events", "outcome", "woken")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.outcome: Future[Ids] = Future()
        self.woken = threading.Event()
