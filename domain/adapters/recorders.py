"""The library's PostgreSQL recorders, with retries bounded so that an unreachable database
fails a call within seconds instead of minutes, and table creation one process at a time."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import retry

from domain.adapters.config import STORE_ATTEMPTS
from domain.adapters.locks import DDL_LOCK_KEY
from domain.adapters.pools import RECONNECT_TIMEOUT_S


def _bounded(method: Any) -> Any:
    """The library's recorder method, re-wrapped with STORE_ATTEMPTS retries instead of ten."""
    return retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)(
        method.__wrapped__
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


class BoundedPostgresApplicationRecorder(_OneCreatorAtATime, PostgresApplicationRecorder):
    insert_events = _bounded(PostgresApplicationRecorder.insert_events)
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
