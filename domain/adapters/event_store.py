"""The Sessions application on a real store: positions looked up by index, writers of one
stream serialised across processes (PostgreSQL), and retries that jitter.

``open_sessions(store_env(url, data_dir, name="gaia"))`` is how everything outside the domain
opens the event store.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.adapters.config import postgres_recorder
from domain.application import (
    DEFAULT_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    OneProcessStore,
    Retries,
    SavedListener,
    Sessions,
    utc_now,
)

if TYPE_CHECKING:
    from domain.adapters.locks import StreamLocks


def jitter(attempt: int) -> None:
    """After a lost race, re-apply at once but for a little jitter. A long backoff would
    starve this process against a busy one; the jitter keeps two losers from colliding again
    in lockstep."""
    time.sleep(random.uniform(0, 0.0005 * attempt))  # noqa: S311 - not for secrets


RETRIES = Retries(attempts=DEFAULT_ATTEMPTS, pause=jitter)


def open_sessions(
    env: Mapping[str, str],
    *,
    snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
    clock: Callable[[], datetime] = utc_now,
    on_saved: Iterable[SavedListener] = (),
) -> Sessions:
    """The Sessions application on the store ``env`` names (see ``config.store_env``)."""
    return Sessions(
        env,
        store=RecorderAccess,
        retries=RETRIES,
        snapshot_interval=snapshot_interval,
        clock=clock,
        on_saved=on_saved,
    )


def position_of(recorder: ApplicationRecorder, originator_id: UUID, version: int) -> int | None:
    """The global position (notification id) of one stored event, or None if there is none."""
    postgres = postgres_recorder(recorder)
    if postgres is not None:
        statement = (
            f'SELECT notification_id FROM "{postgres.datastore.schema}".'  # noqa: S608
            f'"{postgres.events_table_name}" WHERE originator_id = %s AND originator_version = %s'
        )
        with postgres.datastore.transaction(commit=False) as curs:
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
    return OneProcessStore(recorder).position_of(originator_id, version)


class RecorderAccess:
    """The store behind the use cases' ``StoreAccess`` port, for any of the library's recorders:
    cross-process write locks on PostgreSQL (one process writes an SQLite file)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder
        self._locks: StreamLocks | None = None
        postgres = postgres_recorder(recorder)
        if postgres is not None:
            # Imported here: psycopg loads only with a PostgreSQL store (see config.py).
            from psycopg import sql  # noqa: PLC0415
            from psycopg.conninfo import make_conninfo  # noqa: PLC0415

            from domain.adapters.locks import StreamLocks  # noqa: PLC0415

            given = postgres.datastore.pool.kwargs
            params: dict[str, Any] = (given() if callable(given) else given) or {}
            self._locks = StreamLocks(
                make_conninfo(
                    dbname=params["dbname"],
                    host=params["host"],
                    port=params["port"],
                    user=params["user"],
                    password=params.get("password") or "",
                ),
                sql.Identifier(postgres.datastore.schema, postgres.events_table_name),
            )

    @property
    def locks_across_processes(self) -> bool:
        return self._locks is not None

    def position_of(self, session_id: UUID, version: int) -> int | None:
        return position_of(self._recorder, session_id, version)

    @contextmanager
    def hold(self, session_id: UUID) -> Iterator[int | None]:
        if self._locks is None:
            yield None
            return
        with self._locks.hold(session_id) as head:
            yield head

    def drop_broken_connections(self) -> None:
        postgres = postgres_recorder(self._recorder)
        if postgres is not None:
            from domain.adapters.pools import drop_broken_connections  # noqa: PLC0415

            drop_broken_connections(postgres.datastore.pool)
        if self._locks is not None:
            self._locks.drop_broken_connections()

    def close(self) -> None:
        if self._locks is not None:
            self._locks.close()
