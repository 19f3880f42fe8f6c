"""One stream's stored events as plain ``(topic, state, version)`` tuples, read by key range
straight from the library's events table: what ``select_events`` returns, without a dict per row
and a ``StoredEvent`` per event, for readers that go through many events (exports, folds), and
``pages`` of them with the next page read while the caller works on the last."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

from domain.adapters.config import STORE_ATTEMPTS, postgres_recorder

StoredRow = tuple[
    str, bytes, int
]  # topic, state (as stored: maybe compressed or encrypted), version
# Reads versions ``gt`` < v <= ``lte`` of one stream, at most ``limit``, in version order.
RowsReader = Callable[[UUID, int, int, int], list[StoredRow]]
_COLUMNS: Final = "topic, state, originator_version"


def rows_reader(recorder: ApplicationRecorder) -> RowsReader | None:
    """A ``RowsReader`` over ``recorder``'s events table, giving the events of
    ``recorder.select_events(originator_id, gt=gt, lte=lte, limit=limit)`` in the same order;
    None for a recorder that is neither the library's PostgreSQL nor its SQLite one (then
    ``select_events`` is the way)."""
    postgres = postgres_recorder(recorder)
    if postgres is not None:
        return _postgres_reader(postgres)
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _sqlite_reader(recorder)
    return None


def pages(
    read: RowsReader, stream_id: UUID, after: int, until: int, size: int
) -> Iterator[list[StoredRow]]:
    """The stream's rows after version ``after`` up to ``until``, ``size`` to a page, in order.

    While the caller works on a full page, the next one is read in a thread of its own, so the
    database's time overlaps ours (the driver lets go of the GIL while it waits). A read that
    fits in one page involves no thread: catching up on a few events costs one query, as ever.
    """

    def more_after(page: list[StoredRow]) -> bool:
        return len(page) == size and page[-1][2] < until

    page = read(stream_id, after, until, size)
    if more_after(page):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream-pages") as ahead:
            while more_after(page):
                upcoming = ahead.submit(read, stream_id, page[-1][2], until, size)
                yield page  # a caller that stops here waits, leaving, for the read in flight
                page = upcoming.result()
    if page:
        yield page


def _postgres_reader(recorder: Any) -> RowsReader:
    # Imported here: psycopg loads only with a PostgreSQL store (see config.py).
    from psycopg import sql  # noqa: PLC0415
    from psycopg.rows import tuple_row  # noqa: PLC0415

    datastore = recorder.datastore
    statement = sql.SQL(
        f"SELECT {_COLUMNS} FROM {{table}} WHERE originator_id = %s "  # noqa: S608 - constants
        "AND originator_version > %s AND originator_version <= %s "
        "ORDER BY originator_version ASC LIMIT %s"
    ).format(table=sql.Identifier(datastore.schema, recorder.events_table_name))

    # Retried as the library's reads are here (recorders.py). Binary results: a state arrives as
    # its bytes, not as hex text to decode (a fifth of the cost of the library's read, all told).
    @retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)
    def read(originator_id: UUID, gt: int, lte: int, limit: int) -> list[StoredRow]:
        with (
            datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(statement, (originator_id, gt, lte, limit), prepare=True)
            rows: list[StoredRow] = curs.fetchall()
        return rows

    return read  # type: ignore[no-any-return]  # the library's retry decorator is untyped


def _sqlite_reader(recorder: SQLiteApplicationRecorder) -> RowsReader:
    datastore = recorder.datastore
    statement = (
        f"SELECT {_COLUMNS} FROM {recorder.events_table_name} "  # noqa: S608 - the library's name
        "WHERE originator_id = ? AND originator_version > ? AND originator_version <= ? "
        "ORDER BY originator_version ASC LIMIT ?"
    )

    def read(originator_id: UUID, gt: int, lte: int, limit: int) -> list[StoredRow]:
        with datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id.hex, gt, lte, limit))
            return [(row[0], row[1], row[2]) for row in curs.fetchall()]

    return read
