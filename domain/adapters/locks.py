"""PostgreSQL advisory locks: the keys every lock in the service uses, the per-stream write
lock that serialises writers of one session across processes, and the session-scoped locks
held across a narration."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from typing import Any, Final
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg import sql

from domain.adapters.pools import CONNECT_TIMEOUT_S, Pool, connection_pool, drop_broken_connections

log = logging.getLogger(__name__)

# Any fixed 64-bit number: the advisory lock that lets one process at a time create tables.
DDL_LOCK_KEY: Final = 0x6761696164646C  # "gaiaddl"


def advisory_key(purpose: str, stream_id: UUID) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for one purpose on one stream."""
    digest = hashlib.blake2b(purpose.encode() + stream_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class StreamLocks:
    """Serialise writers of one stream across processes.

    Optimistic retries alone let a busy process starve another one writing the same stream;
    a transaction-scoped advisory lock queues them fairly, and is released by the rollback
    below or, if this process dies, by the server closing its connection. The write loop takes
    it for a session it has not loaded, after a save lost to another process, and for every
    few saves of a loaded one (``domain/application/loaded.py``).

    The locks hold connections from a pool of their own, smaller than the store's: sharing
    one pool would let every lock holder wait forever for a second connection to save with.
    Taking a lock is one round trip, which also reads the stream's head version in
    ``events_table`` (a table with the library's columns), so a writer that has the stream
    loaded knows whether it must read anything at all.
    """

    POOL_SIZE: Final = 8
    _TAKE: Final = sql.SQL(
        "BEGIN; SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock({key}); "
        "SELECT coalesce(max(originator_version), 0) FROM {table} WHERE originator_id = {stream}"
    )

    def __init__(self, conninfo: str, events_table: sql.Identifier) -> None:
        self._events_table = events_table
        self._pool: Pool = connection_pool(
            conninfo,
            min_size=1,
            max_size=self.POOL_SIZE,
            timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
        )

    @contextlib.contextmanager
    def hold(self, stream_id: UUID) -> Iterator[int]:
        """Hold the stream's write lock until the block ends; gives its head version (0: none)."""
        take = self._TAKE.format(
            key=sql.Literal(advisory_key("write", stream_id)),
            table=self._events_table,
            stream=sql.Literal(stream_id),
        )
        with _as_store_errors(), self._pool.connection() as conn:
            try:
                # Without parameters, psycopg sends the statements as one simple query.
                cursor = conn.execute(take)
                while cursor.nextset():
                    pass  # to the last statement's result: the head version
                row = cursor.fetchone()
                yield int(row[0]) if row else 0
            finally:
                # A broken connection is dropped by the pool; the server released the lock then.
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")

    def drop_broken_connections(self) -> None:
        drop_broken_connections(self._pool)

    def close(self) -> None:
        self._pool.close()


class HeldLocks:
    """Session-scoped advisory locks, each held on a pooled connection of its own until let go:
    for work that outlives any transaction (a narration waits on a remote model)."""

    _TAKE: Final = sql.SQL("SET lock_timeout = {timeout}; SELECT pg_advisory_lock({key})")

    def __init__(self, conninfo: str, *, max_held: int) -> None:
        self._pool: Pool = connection_pool(
            conninfo, min_size=0, max_size=max_held, timeout=5, connect_timeout=3, autocommit=True
        )

    def take(self, purpose: str, stream_id: UUID, *, timeout_s: float) -> Any | None:
        """The connection now holding the stream's lock, or None if none came free or the lock
        was not had within ``timeout_s`` (blocking)."""
        extra = {"session_id": str(stream_id), "lock": purpose}
        try:
            conn = self._pool.getconn()
        except psycopg_pool.PoolTimeout:
            log.warning("no connection free to hold a %s lock on", purpose, extra=extra)
            return None
        take = self._TAKE.format(
            timeout=sql.Literal(f"{int(timeout_s * 1000)}ms"),
            key=sql.Literal(advisory_key(purpose, stream_id)),
        )
        try:
            conn.execute(take)  # one round trip: no parameters, so one simple query
        except psycopg.Error:
            log.warning("%s lock not acquired", purpose, extra=extra)
            self._pool.putconn(conn)
            return None
        return conn

    def give_back(self, conn: Any, purpose: str, stream_id: UUID) -> None:
        """Let go of the lock ``take`` gave on ``conn``, and of the connection."""
        try:
            conn.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(purpose, stream_id),))
        except psycopg.Error:
            pass  # a dead connection has released its locks with it; the pool replaces it
        finally:
            self._pool.putconn(conn)

    def drop_broken_connections(self) -> None:
        drop_broken_connections(self._pool)

    def close(self) -> None:
        self._pool.close()


@contextlib.contextmanager
def _as_store_errors() -> Iterator[None]:
    """psycopg's connection errors as the library's, which the use cases report as the store
    being unavailable (as they do for the recorders' own)."""
    try:
        yield
    except psycopg.InterfaceError as error:
        raise InterfaceError(str(error)) from error
    except psycopg.OperationalError as error:
        raise OperationalError(str(error)) from error
