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
    """

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder
        self._guard = threading.Condition(threading.Lock())
        self._queue: list[tuple[Sequence[StoredEvent], Future[Ids]]] = []
        self._leading = False
        self.batches = 0  # transactions committed or tried, for tests and benchmarks

    def insert(self, stored_events: Sequence[StoredEvent]) -> Ids:
        """Commit ``stored_events`` (of one session) with whatever else is waiting; their
        notification ids, in order. Raises what committing them alone would have raised."""
        outcome: Future[Ids] = Future()
        with self._guard:
            self._queue.append((stored_events, outcome))
            while self._leading and not outcome.done():
                self._guard.wait()
            if outcome.done():
                return outcome.result()
            self._leading = True
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        finally:
            for _, waiting in batch:
                if not waiting.done():  # the commit was interrupted: it holds nothing
                    waiting.set_exception(InterfaceError("the commit was interrupted"))
            with self._guard:
                self._leading = False
                self._guard.notify_all()
        return outcome.result()

    def _commit(self, batch: list[tuple[Sequence[StoredEvent], Future[Ids]]]) -> None:
        if len(batch) == 1:
            self._alone(*batch[0])
            return
        joined = [event for events, _ in batch for event in events]
        try:
            self.batches += 1
            ids = self._recorder.insert_events(joined)
        except (OperationalError, InterfaceError) as error:
            for _, outcome in batch:
                outcome.set_exception(error)
        except Exception:  # noqa: BLE001 - one writer's fault: find it by committing alone
            for events, outcome in batch:
                self._alone(events, outcome)
        else:
            start = 0
            for events, outcome in batch:
                end = start + len(events)
                outcome.set_result(None if ids is None else ids[start:end])
                start = end

    def _alone(self, events: Sequence[StoredEvent], outcome: Future[Ids]) -> None:
        try:
            self.batches += 1
            ids = self._recorder.insert_events(events)
        except Exception as error:  # noqa: BLE001 - raised in the writer's thread
            outcome.set_exception(error)
        else:
            outcome.set_result(ids)
