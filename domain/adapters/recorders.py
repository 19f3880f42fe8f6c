"""The library's PostgreSQL recorders, with retries bounded so that an unreachable database
fails a call within seconds instead of minutes, table creation one process at a time, and events
appended in one round trip."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Final

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composed, Identifier, Literal

from domain.adapters.config import STORE_ATTEMPTS
from domain.adapters.locks import DDL_LOCK_KEY
from domain.adapters.pools import RECONNECT_TIMEOUT_S


def _bounded(method: Any) -> Any:
    """The library's recorder method, re-wrapped with STORE_ATTEMPTS retries instead of ten."""
    return _retried(method.__wrapped__)


def _retried(function: Any) -> Any:
    return retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)(
        function
    )


def _insert_into(recorder: PostgresAggregateRecorder) -> Composed:
    """The start of an INSERT of rows into ``recorder``'s events table, up to ``VALUES``."""
    return SQL(
        "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) VALUES "
    ).format(
        schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name)
    )


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

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        """The library's INSERT, with the rows as plain parameters and each state sent as
        binary. The library sends one array of composite rows, which psycopg writes out in
        Python, escaping each byte of each state: a snapshot of a long session is hundreds of
        kilobytes, and the thread storing it held the interpreter from every other thread
        for as long."""
        rows = SQL(", ").join([SQL("(%s, %s, %s, %b)")] * len(stored_events))
        params = [
            value
            for e in stored_events
            for value in (e.originator_id, e.originator_version, e.topic, e.state)
        ]
        curs.execute(Composed([self._insert_head, rows]), params)

    @cached_property
    def _insert_head(self) -> Composed:
        return _insert_into(self)


_FIRST_ROW: Final = SQL("(")
_NEXT_ROW: Final = SQL(", (")
_COMMA: Final = SQL(", ")
_ROW_END: Final = SQL(")")


class BoundedPostgresApplicationRecorder(_OneCreatorAtATime, PostgresApplicationRecorder):
    def _insert_in_one_trip(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's ``insert_events``, in one round trip instead of two, and one query
        instead of six: the same statements (BEGIN, its lock timeout and table lock, NOTIFY,
        the INSERT returning the notification ids, COMMIT) sent as one text with the values
        inline, as one simple query. A version stored already fails the INSERT, which
        skips the rest; the transaction is then rolled back, and the IntegrityError raised as
        the library raises it."""
        if self.datastore.enable_db_functions or not stored_events:
            library: Any = PostgresApplicationRecorder.insert_events
            return library.__wrapped__(self, stored_events, **kwargs)  # type: ignore[no-any-return]
        # Composed from parts rather than by SQL.format, which parses its template per row.
        parts: list[Any] = [self._one_trip_head]
        for n, e in enumerate(stored_events):
            parts += (_NEXT_ROW if n else _FIRST_ROW, Literal(e.originator_id))
            parts += (_COMMA, Literal(e.originator_version), _COMMA, Literal(e.topic))
            parts += (_COMMA, Literal(e.state), _ROW_END)
        parts.append(self._one_trip_tail)
        statement = Composed(parts)
        with self.datastore.get_connection() as conn:
            try:
                cursor = conn.execute(statement)
                while cursor.statusmessage is None or not cursor.statusmessage.startswith("INSERT"):
                    if not cursor.nextset():
                        raise psycopg.ProgrammingError("no INSERT result")
                ids = [int(row["notification_id"]) for row in cursor.fetchall()]
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
        if len(ids) != len(stored_events):
            raise ProgrammingError(
                f"got {len(ids)} notification ids for {len(stored_events)} events"
            )
        return ids

    @cached_property
    def _one_trip_head(self) -> Composed:
        """The statements before the INSERT's rows, composed once."""
        timeout, lock = self.lock_table_statements
        begin = SQL("BEGIN; {timeout}; {lock}; NOTIFY {channel}; ").format(
            timeout=timeout, lock=lock, channel=Identifier(self.channel_name)
        )
        return begin + _insert_into(self)

    _one_trip_tail: Final = SQL(" RETURNING notification_id; COMMIT")

    insert_events = _retried(_insert_in_one_trip)
    select_events = _bounded(PostgresAggregateRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class BoundedPostgresFactory(PostgresFactory):
    """Named by ``PERSISTENCE_MODULE`` in the settings that ``config.store_env`` writes."""

    aggregate_recorder_class = BoundedPostgresAggregateRecorder
    application_recorder_class = BoundedPostgresApplicationRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.reconnect_timeout = RECONNECT_TIMEOUT_S
