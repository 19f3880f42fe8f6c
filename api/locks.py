"""Single flight across instances: a PostgreSQL advisory lock per session while it is narrated.

On the embedded SQLite store there is one process, and the in-process single flight suffices.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from domain.store import advisory_key

log = logging.getLogger(__name__)

SLOW_WAIT_S = 2.0


class NarrationLocks:
    def __init__(self, database_url: str | None, *, max_sessions: int = 8) -> None:
        self._pool: ConnectionPool[Any] | None = None
        if database_url:
            self._pool = ConnectionPool(
                database_url,
                min_size=0,
                max_size=max_sessions,
                timeout=5,
                open=True,
                kwargs={"autocommit": True, "connect_timeout": 3},
                check=ConnectionPool.check_connection,
            )

    @contextmanager
    def hold(self, session_id: UUID, *, timeout_s: float = 30.0) -> Iterator[bool]:
        """Hold the session's narration lock; yields False if it could not be had in time."""
        if self._pool is None:
            yield True
            return
        key = advisory_key("narrate", session_id)
        with self._pool.connection() as conn:
            started = time.monotonic()
            try:
                conn.execute(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg.Error:
                log.warning("narration lock not acquired", extra={"session_id": str(session_id)})
                yield False
                return
            waited = time.monotonic() - started
            if waited > SLOW_WAIT_S:
                log.warning(
                    "waited %.1f s for the narration lock",
                    waited,
                    extra={"session_id": str(session_id)},
                )
            try:
                yield True
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
