"""Snapshots stored on a thread of their own, off the write path.

A snapshot comes encoded (it is taken under the session's lock, and the session changes right
after), and is stored by one background thread, in the order given. It only shortens later loads,
so one that fails is logged and dropped (a load then replays more), one another process stored
first is dropped quietly, and when too many wait (the store is slow or away) new ones are
dropped rather than queued without bound.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from eventsourcing.persistence import AggregateRecorder, IntegrityError, StoredEvent

log = logging.getLogger(__name__)

MAX_WAITING: Final = 32  # snapshots encoded and not yet stored (each up to a few MB)


class SnapshotWriter:
    def __init__(self, recorder: AggregateRecorder) -> None:
        self._recorder = recorder
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshots")
        self._guard = threading.Lock()
        self._waiting = 0

    def put(self, snapshot: StoredEvent) -> None:
        """Store ``snapshot`` soon (or drop it: see the module)."""
        with self._guard:
            if self._waiting >= MAX_WAITING:
                log.warning("snapshot dropped: %d wait to be stored", self._waiting)
                return
            self._waiting += 1
        try:
            self._thread.submit(self._store, snapshot)
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
            self._recorder.insert_events([stored])
        except IntegrityError:
            pass  # another process stored this version first
        except Exception:
            log.exception("snapshot failed", extra={"session_id": str(stored.originator_id)})
        finally:
            self._done()

    def _done(self) -> None:
        with self._guard:
            self._waiting -= 1
