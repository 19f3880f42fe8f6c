"""Where events are stored: a database URL translated into the library's settings, in one place.

SQLite files under the data dir are the embedded default; a ``postgresql://`` URL selects
PostgreSQL, with recorders whose retries are bounded so an unreachable database fails a call
within seconds instead of minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
# Worst case for one store call while PostgreSQL is down: ATTEMPTS x CONNECT_TIMEOUT_S + waits.
STORE_ATTEMPTS: Final = 2
CONNECT_TIMEOUT_S: Final = 2
# How long the pool keeps re-trying one lost connection (backing off 1 s, 2 s, 4 s, ...) before
# it gives up and connects afresh on the next demand. The library leaves psycopg_pool's 5
# minutes, which after an outage of seconds keeps the pool waiting out its backoff long after
# the database is back.
RECONNECT_TIMEOUT_S: Final = 1.0


class InvalidDatabaseURL(ValueError):
    """The database URL names no store this service can use."""


def is_postgres(database_url: str | None) -> bool:
    return bool(database_url) and urlsplit(database_url or "").scheme in POSTGRES_SCHEMES


def sqlite_path(data_dir: Path, name: str) -> Path:
    """The SQLite file of the application or projection called ``name``."""
    return data_dir / f"{name.lower()}.sqlite3"


def store_env(
    database_url: str | None,
    data_dir: Path,
    *,
    name: str,
    pool_size: int = 5,
    max_overflow: int = 10,
    cache_size: int = 1000,
) -> dict[str, str]:
    """Library settings for the application or projection called ``name``.

    Keys carry the upper-cased name as prefix, so they win over anything unprefixed that happens
    to be in the process environment. SQLite gets one file per name: the library's SQLite tables
    have fixed names, and two projections sharing a file would share a checkpoint.
    """
    prefix = name.upper() + "_"
    env: dict[str, str] = {"AGGREGATE_CACHE_MAXSIZE": str(cache_size)} if cache_size else {}
    if not database_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(sqlite_path(data_dir, name)),
            "SQLITE_LOCK_TIMEOUT": "5",
        }
    elif is_postgres(database_url):
        env |= _postgres_env(database_url, pool_size=pool_size, max_overflow=max_overflow)
    else:
        scheme = urlsplit(database_url).scheme or "(none)"
        raise InvalidDatabaseURL(
            f"unsupported database URL scheme {scheme!r}: use postgresql://... or leave it unset "
            "for the embedded SQLite store"
        )
    return {prefix + key: value for key, value in env.items()}


def _postgres_env(url: str, *, pool_size: int, max_overflow: int) -> dict[str, str]:
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    user = unquote(parts.username or "") or query.get("user", "postgres")
    # A host in the query is how libpq URLs name a unix socket directory (Cloud SQL).
    host = parts.hostname or query.get("host", "localhost")
    dbname = unquote(parts.path.lstrip("/")) or query.get("dbname", user)
    try:
        port = parts.port or int(query.get("port", "5432"))
    except ValueError as error:
        raise InvalidDatabaseURL(f"invalid port in database URL: {error}") from None
    return {
        "PERSISTENCE_MODULE": f"{__name__}:BoundedPostgresFactory",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        # The library passes its password to libpq explicitly, even an empty one, which
        # stops libpq from reading PGPASSWORD itself: so it is read here, as libpq would.
        # Empty serves servers that need none (trust, or IAM through the Cloud SQL socket).
        "POSTGRES_PASSWORD": unquote(parts.password or "")
        or query.get("password", "")
        or os.environ.get("PGPASSWORD", ""),
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_MAX_WAITING": "64",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # No ping on checkout: the pool's ping loop backs off 1 s, then 2 s, past its own
        # deadline, so with dead connections pooled a call could take over 5 s. A dead
        # connection fails at once instead, the bounded retry takes another, and
        # drop_broken_connections() clears the rest once the database answers again.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
        # Never the library's database functions: they skip the table lock that keeps
        # notification ids in commit order (see the notes on the library).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }


def _bounded(method: Any) -> Any:
    """The library's recorder method, re-wrapped with STORE_ATTEMPTS retries instead of ten."""
    return retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)(
        method.__wrapped__
    )


# Any fixed 64-bit number: the advisory lock that lets one process at a time create tables.
DDL_LOCK_KEY: Final = 0x6761696164646C  # "gaiaddl"


class _OneCreatorAtATime:
    """Instances starting at once would race in the library's DDL (its composite type has no
    IF NOT EXISTS): the first creates the tables while the others wait, then find them."""

    datastore: PostgresDatastore

    def create_table(self) -> None:
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK_KEY,))
            try:
                super().create_table()  # type: ignore[misc]
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK_KEY,))


class BoundedPostgresAggregateRecorder(_OneCreatorAtATime, PostgresAggregateRecorder):
    insert_events = _bounded(PostgresAggregateRecorder.insert_events)
    select_events = _bounded(PostgresAggregateRecorder.select_events)


class BoundedPostgresApplicationRecorder(_OneCreatorAtATime, PostgresApplicationRecorder):
    insert_events = _bounded(PostgresApplicationRecorder.insert_events)
    select_events = _bounded(PostgresAggregateRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class BoundedPostgresTrackingRecorder(_OneCreatorAtATime, PostgresTrackingRecorder):
    insert_tracking = _bounded(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = _bounded(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = _bounded(PostgresTrackingRecorder.has_tracking_id)


class BoundedPostgresFactory(PostgresFactory):
    aggregate_recorder_class = BoundedPostgresAggregateRecorder
    application_recorder_class = BoundedPostgresApplicationRecorder
    tracking_recorder_class = BoundedPostgresTrackingRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT_S


def drop_broken_connections(recorder: ApplicationRecorder) -> None:
    """Test the idle pooled connections and replace the dead ones (PostgreSQL; else a no-op).

    Called when the database answers again after an error: without a ping on checkout, the
    connections that died meanwhile would otherwise each fail one call.
    """
    if isinstance(recorder, PostgresApplicationRecorder):
        recorder.datastore.pool.check()


def position_of(recorder: ApplicationRecorder, originator_id: UUID, version: int) -> int | None:
    """The global position (notification id) of one stored event, or None if there is none."""
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = (
            f'SELECT notification_id FROM "{recorder.datastore.schema}".'  # noqa: S608
            f'"{recorder.events_table_name}" WHERE originator_id = %s AND originator_version = %s'
        )
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id, version), prepare=True)
            row = curs.fetchone()
        return None if row is None else int(row["notification_id"])
    if isinstance(recorder, SQLiteApplicationRecorder):
        statement = (
            f"SELECT rowid FROM {recorder.events_table_name} "  # noqa: S608
            "WHERE originator_id = ? AND originator_version = ?"
        )
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id.hex, version))
            row = curs.fetchone()
        return None if row is None else int(row[0])
    raise TypeError(f"no position lookup for {type(recorder).__name__}")


def advisory_key(purpose: str, stream_id: UUID) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for one purpose on one stream."""
    digest = hashlib.blake2b(purpose.encode() + stream_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class StreamLocks:
    """Serialise writers of one stream across processes (PostgreSQL only; a no-op on SQLite).

    Optimistic retries alone let a busy process starve another one writing the same stream;
    a transaction-scoped advisory lock queues them fairly, and is released by the rollback
    below or, if this process dies, by the server closing its connection.

    The locks hold connections from a pool of their own, smaller than the store's: sharing
    one pool would let every lock holder wait forever for a second connection to save with.
    """

    POOL_SIZE: Final = 8

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._datastore: PostgresDatastore | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            given = recorder.datastore.pool.kwargs
            kwargs: dict[str, Any] = (given() if callable(given) else given) or {}
            self._datastore = PostgresDatastore(
                dbname=str(kwargs["dbname"]),
                host=str(kwargs["host"]),
                port=str(kwargs["port"]),
                user=str(kwargs["user"]),
                password=str(kwargs.get("password") or ""),
                connect_timeout=CONNECT_TIMEOUT_S,
                pool_size=1,
                max_overflow=self.POOL_SIZE - 1,
                pre_ping=True,
            )
            self._datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT_S

    @contextlib.contextmanager
    def hold(self, stream_id: UUID) -> Iterator[None]:
        if self._datastore is None:
            yield
            return
        with self._datastore.get_connection() as conn:
            conn.execute("BEGIN")
            try:
                conn.execute("SET LOCAL lock_timeout = '10s'")
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (advisory_key("write", stream_id),)
                )
                yield
            finally:
                # A broken connection is dropped by the pool; the server released the lock then.
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")

    def drop_broken_connections(self) -> None:
        """Replace the pooled lock connections that died (see drop_broken_connections)."""
        if self._datastore is not None:
            self._datastore.pool.check()

    def close(self) -> None:
        if self._datastore is not None:
            self._datastore.close()
