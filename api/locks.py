"""Single flight across instances: a PostgreSQL advisory lock per session while it is narrated.

On the embedded SQLite store there is one process, and the in-process single flight suffices.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from domain.adapters.locks import HeldLocks

log = logging.getLogger(__name__)

SLOW_WAIT_S = 2.0
PURPOSE = "narrate"  # the advisory key's purpose: one narration lock per session


@dataclass(frozen=True)
class Lease:
    """A held narration lock: the connection that holds it, or None on SQLite."""

    session_id: UUID
    connection: Any | None  # a psycopg connection


class NarrationLocks:
    def __init__(
        self,
        database_url: str | None,
        *,
        max_sessions: int = 32,
        on_wait: Callable[[float, bool], None] | None = None,
    ) -> None:
        self.capacity = max_sessions
        self._held: HeldLocks | None = None
        # Told how long each acquisition waited and whether it got the lock (metrics).
        self.on_wait = on_wait
        if database_url:
            # Imported here: psycopg loads only when PostgreSQL is configured.
            from domain.adapters.locks import HeldLocks  # noqa: PLC0415

            self._held = HeldLocks(database_url, max_held=max_sessions)

    def acquire(self, session_id: UUID, *, timeout_s: float = 30.0) -> Lease | None:
        """Take the session's narration lock (blocking; call it from a worker thread).

        Returns a lease to hand back to ``release``, or None if the lock could not be had in
        time (another instance narrates the session; the periodic sweep tries again later).
        No thread is held while the lease is out: the narration itself runs on the event loop.
        """
        if self._held is None:
            return Lease(session_id, None)
        started = time.monotonic()
        conn = self._held.take(PURPOSE, session_id, timeout_s=timeout_s)
        waited = time.monotonic() - started
        self._waited(waited, acquired=conn is not None)
        if conn is None:
            return None
        if waited > SLOW_WAIT_S:
            log.warning(
                "waited %.1f s for the narration lock",
                waited,
                extra={"session_id": str(session_id)},
            )
        return Lease(session_id, conn)

    def release(self, lease: Lease) -> None:
        if self._held is not None and lease.connection is not None:
            self._held.give_back(lease.connection, PURPOSE, lease.session_id)

    def _waited(self, seconds: float, *, acquired: bool) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds, acquired)

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died (after the database comes back)."""
        if self._held is not None:
            self._held.drop_broken_connections()

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
