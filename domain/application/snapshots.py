"""Snapshots stored on a thread of their own, off the write path.

A snapshot is encoded where it is taken (under the session's lock: the session changes right
after), and stored by one background thread, in the order taken. It only shortens later loads,
so one that fails is logged and dropped (a load then replays more), one another process stored
first is dropped quietly, and when too many wait (the store is slow or away) new ones are
dropped rather than queued without bound.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from eventsourcing.persistence import EventStore, IntegrityError, StoredEvent

log = logging.getLogger(__name__)

MAX_WAITING: Final = 32  # snapshots encoded and not yet stored (each up to a few MB)


class SnapshotWriter:
    def __init__(self, snapshots: EventStore[Any]) -> None:
        self._snapshots = snapshots
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
        self._guard = threading.Lock()
        self._waiting = 0

    def put(self, snapshot: object) -> None:
        """Encode ``snapshot`` now and store it soon (or drop it: see the module)."""
        with self._guard:
            if self._waiting >= MAX_WAITING:
                log.warning("snapshot dropped: %d wait to be stored", self._waiting)
                return
            self._waiting += 1
        try:
            stored = self._snapshots.mapper.to_stored_event(snapshot)  # type: ignore[arg-type]
            self._thread.submit(self._store, stored)
        except BaseException:
            self._done()
            raise

    def wait(self, timeout: float | None = None) -> None:
        """Block until the snapshots put so far are stored (or dropped)."""
        self._thread.submit(lambda: None).result(timeout)

    def close(self) -> None:
        """Store what waits, then stop the thread."""
        self._thread.shutdown(wait=True)

    def _store(self, stored: StoredEvent) -> None:
        try:
            self._snapshots.recorder.insert_events([stored])
        except IntegrityError:
            pass  # another process stored this version first
        except Exception:
            log.exception("snapshot failed", extra={"session_id": str(stored.originator_id)})
        finally:
            self._done()

    def _done(self) -> None:
        with self._guard:
            self._waiting -= 1
