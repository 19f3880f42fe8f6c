"""Fixture sessions copied from one played session: its stored events (and snapshots) under a
new session id, with chosen JSON strings swapped, written straight into the store in bulk.

A store that a service reads holds the same rows whether each session was played through the
domain or copied from one that was, and copying a million events takes a fraction of the time
playing them would. Used by the ``startup`` and ``projections`` groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from domain.application import Sessions

COPY_SESSIONS: Final = 20  # copied sessions gathered before one write (one transaction)


def played_snapshots(sessions: Sessions) -> Any:
    """The snapshot store of ``sessions`` (the service's: snapshots are on)."""
    if sessions.snapshots is None:
        raise RuntimeError("the Sessions application has no snapshot store")
    return sessions.snapshots


def copied(
    played_id: UUID,
    stored: list[StoredEvent],
    snapshots: list[StoredEvent],
    new_id: UUID,
    swapped: Mapping[str, str] | None = None,
) -> tuple[list[StoredEvent], list[StoredEvent]]:
    """The played session's events and snapshots as those of session ``new_id``: its id, where
    it stands in a text (a title), and every JSON string of ``swapped`` (a key, with its quotes,
    in the stored JSON) as its value."""
    pairs = [(str(played_id).encode(), str(new_id).encode())]
    pairs += [(f'"{old}"'.encode(), f'"{new}"'.encode()) for old, new in (swapped or {}).items()]

    def copy(event: StoredEvent) -> StoredEvent:
        state = event.state
        for old, new in pairs:
            state = state.replace(old, new)
        return StoredEvent(new_id, event.originator_version, event.topic, state)

    return [copy(e) for e in stored], [copy(s) for s in snapshots]


def write_copies(
    sessions: Sessions, events: list[StoredEvent], snapshots: list[StoredEvent], *, postgres: bool
) -> None:
    """Store the copied sessions gathered so far, then their snapshots, and empty both lists: on
    PostgreSQL with COPY in one transaction (the library's insert sends them through one
    pipeline at about 13k rows/s, and stalled on 20,000 rows at once), on SQLite with the
    library's insert."""
    if not events:
        return
    snapshot_recorder = played_snapshots(sessions).recorder if snapshots else None
    if not postgres:
        sessions.recorder.insert_events(events)
        if snapshot_recorder is not None:
            snapshot_recorder.insert_events(snapshots)
    else:
        datastore: Any = getattr(sessions.recorder, "datastore")  # noqa: B009 - PostgreSQL's
        with datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
            copy_into(cur, datastore.schema, sessions.recorder, events)
            if snapshot_recorder is not None:
                copy_into(cur, datastore.schema, snapshot_recorder, snapshots)
    events.clear()
    snapshots.clear()


def copy_into(cur: Any, schema: str, recorder: Any, rows: list[StoredEvent]) -> None:
    """COPY ``rows`` into the table of the library's PostgreSQL ``recorder``; a notification
    id, where the table has one, comes from its sequence as with an insert."""
    table = sql.SQL("{}.{}").format(
        sql.Identifier(schema), sql.Identifier(recorder.events_table_name)
    )
    statement = sql.SQL(
        "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
    ).format(table)
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row((row.originator_id, row.originator_version, row.topic, row.state))
