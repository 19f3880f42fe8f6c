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
    import psycopg

    from domain.adapters.pools import Pool

log = logging.getLogger(__name__)

SLOW_WAIT_S = 2.0


@dataclass(frozen=True)
class Lease:
    """A held narration lock: the connection that holds it, or None on SQLite."""

    session_id: UUID
    connection: psycopg.Connection[Any] | None


class NarrationLocks:
    def __init__(
        self,
        database_url: str | None,
        *,
        max_sessions: int = 32,
        on_wait: Callable[[float, bool], None] | None = None,
    ) -> None:
        self.capacity = max_sessions
        self._pool: Pool | None = None
        # Told how long each acquisition waited and whether it got the lock (metrics).
        self.on_wait = on_wait
        if database_url:
            # Imported here: psycopg loads only when PostgreSQL is configured.
            from domain.adapters.pools import connection_pool  # noqa: PLC0415

            self._pool = connection_pool(
                database_url,
                min_size=0,
                max_size=max_sessions,
                timeout=5,
                connect_timeout=3,
                autocommit=True,
            )

    def acquire(self, session_id: UUID, *, timeout_s: float = 30.0) -> Lease | None:
        """Take the session's narration lock (blocking; call it from a worker thread).

        Returns a lease to hand back to ``release``, or None if the lock could not be had in
        time (another instance narrates the session; the periodic sweep tries again later).
        No thread is held while the lease is out: the narration itself runs on the event loop.
        """
        if self._pool is None:
            return Lease(session_id, None)
        import psycopg  # noqa: PLC0415 - in memory already: the pool loaded it
        from psycopg_pool import PoolTimeout  # noqa: PLC0415

        from domain.adapters.locks import advisory_key  # noqa: PLC0415

        key = advisory_key("narrate", session_id)
        started = time.monotonic()
        try:
            conn = self._pool.getconn()
        except PoolTimeout:
            log.warning(
                "no connection for the narration lock", extra={"session_id": str(session_id)}
            )
            self._waited(time.monotonic() - started, acquired=False)
            return None
        try:
            conn.execute(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.Error:
            log.warning("narration lock not acquired", extra={"session_id": str(session_id)})
            self._waited(time.monotonic() - started, acquired=False)
            self._pool.putconn(conn)
            return None
        waited = time.monotonic() - started
        self._waited(waited, acquired=True)
        if waited > SLOW_WAIT_S:
            log.warning(
                "waited %.1f s for the narration lock",
                waited,
                extra={"session_id": str(session_id)},
            )
        return Lease(session_id, conn)

    def release(self, lease: Lease) -> None:
        if self._pool is None or lease.connection is None:
            return
        import psycopg  # noqa: PLC0415 - in memory already: the pool loaded it

        from domain.adapters.locks import advisory_key  # noqa: PLC0415

        try:
            lease.connection.execute(
                "SELECT pg_advisory_unlock(%s)", (advisory_key("narrate", lease.session_id),)
            )
        except psycopg.Error:
            pass  # a dead connection has released its locks with it; the pool replaces it
        finally:
            self._pool.putconn(lease.connection)

    def _waited(self, seconds: float, *, acquired: bool) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds, acquired)

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died (after the database comes back)."""
        if self._pool is not None:
            from domain.adapters.pools import drop_broken_connections  # noqa: PLC0415

            drop_broken_connections(self._pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
