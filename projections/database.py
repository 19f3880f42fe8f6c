"""Where checkpointed views keep their rows: the same PostgreSQL database as the events, or a
SQLite file beside the embedded store. Rows and their position commit in one transaction.

On SQLite the rows, derived from the events, commit without waiting for the disk
(``synchronous=NORMAL`` in WAL mode): only a crash of the machine can take back the last
commits, each whole, position included, and that also restarts every process on it, whose
updaters then read the stored position and apply those events again. PostgreSQL keeps its
setting: it can restart while the service runs on, trusting positions it remembers.

Text goes in as it can be stored: a NUL (which PostgreSQL text refuses) becomes U+FFFD and a
lone surrogate (which UTF-8 cannot encode) is dropped, so no text an event holds stops a view.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from eventsourcing.persistence import InterfaceError, OperationalError

from domain.adapters.config import is_postgres

if TYPE_CHECKING:
    import psycopg

    from domain.adapters.pools import Pool

_WAL_SWITCH = threading.Lock()
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Keys of one SQLite lookup: well inside the bound parameters an older SQLite allows (999).
KEYS_PER_SELECT = 400

# The database out of reach (or busy): worth retrying as it is, unlike an event a view cannot
# apply, which fails the same way every time. A PostgreSQL ViewDatabase adds psycopg's own
# (its ``unreachable``): psycopg is imported only when PostgreSQL is configured.
UNREACHABLE: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    OperationalError,
    InterfaceError,
)


def storable(value: Any) -> Any:
    """``value`` as a view table can hold it (see the module docstring)."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        return value.replace("\x00", "\ufffd").encode("utf-8", "ignore").decode("utf-8")
    return value


def _storable_params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(storable(value) for value in params)


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values of ``columns``) into ``table``, none of which may already be
        there: a plain insert, with no ON CONFLICT clause."""
        ...

    def select_by_keys(
        self,
        table: str,
        columns: Sequence[str],
        key_columns: Sequence[str],
        keys: Iterable[Sequence[str]],
    ) -> list[Any]:
        """The ``columns`` of the rows of ``table`` whose text ``key_columns`` equal one of the
        distinct ``keys``, in one statement or a few, in no particular order."""
        ...


class ViewDatabase:
    """A small DB-API front for view tables; SQL is written with ``%s`` placeholders."""

    def __init__(self, database_url: str | None, data_dir: Path) -> None:
        self.is_postgres = is_postgres(database_url)
        self._url = database_url or ""
        self._sqlite_path = data_dir / "views.sqlite3"
        self._local = threading.local()
        # Re-entrant: a catch-up batch holds it from its read on (``catch_up_turn``).
        self._write_lock = threading.RLock()
        self._pool: Pool | None = None
        self.unreachable = UNREACHABLE
        if self.is_postgres:
            import psycopg  # noqa: PLC0415 - loaded with PostgreSQL only

            from domain.adapters.pools import connection_pool  # noqa: PLC0415

            self.unreachable = (psycopg.OperationalError, psycopg.InterfaceError, *UNREACHABLE)
            self._pool = connection_pool(
                self._url, min_size=1, max_size=4, timeout=3, connect_timeout=3
            )
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
        with self.ddl() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS gaia_view_checkpoints ("
                "name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )

    @contextmanager
    def ddl(self) -> Iterator[Cursor]:
        """A transaction for creating tables. Concurrent CREATE TABLE IF NOT EXISTS can still
        collide in PostgreSQL's catalog, so instances starting at once take turns."""
        with self.transaction() as cur:
            if self.is_postgres:
                from domain.adapters.locks import DDL_LOCK_KEY  # noqa: PLC0415

                cur.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
            yield cur

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._sqlite_path, timeout=10, isolation_level=None, check_same_thread=False
            )
            # Switching to WAL takes an exclusive lock that fails at once (no busy wait) while
            # another connection holds the file: switch once, one connection at a time. The
            # mode is stored in the file, so later connections only read it.
            with _WAL_SWITCH:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # per connection; see the docstring
            self._local.conn = conn
        return conn

    @contextmanager
    def catch_up_turn(self) -> Iterator[None]:
        """Held by a view around the read, fold and write of a catch-up batch. On SQLite it
        takes the write lock that its transaction takes anyway, from the read on: views catching
        up side by side then go one batch at a time, instead of handing the GIL back and forth
        on every row (``sqlite3`` lets it go for each row it reads and each statement), which
        made two views catching up at once take 1.5 times as long as one after the other.
        PostgreSQL does their statements in its own process: they overlap there."""
        if self._pool is not None:
            yield
            return
        with self._write_lock:
            yield

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction on this thread's connection, committed on success."""
        if self._pool is not None:
            with self._pool.connection() as pg, pg.transaction(), pg.cursor() as pg_cursor:
                yield _PostgresCursor(pg_cursor)
            return
        lite = self._sqlite()
        with self._write_lock:
            lite_cursor = _SQLiteCursor(lite.cursor())
            lite.execute("BEGIN IMMEDIATE")
            try:
                yield lite_cursor
            except BaseException:
                lite.execute("ROLLBACK")
                raise
            lite.execute("COMMIT")

    def position(self, cur: Cursor, name: str, *, lock: bool = False) -> int:
        """The view's position; ``lock`` holds its row so that only one runner advances it.

        Without ``lock`` (a runner starting) the row is created first; a locking read comes
        later, from a runner whose start already created it, so it skips that round trip.
        """
        if not lock:
            cur.execute(
                "INSERT INTO gaia_view_checkpoints (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )
        suffix = " FOR UPDATE" if lock and self.is_postgres else ""
        cur.execute("SELECT position FROM gaia_view_checkpoints WHERE name = %s" + suffix, (name,))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def set_position(self, cur: Cursor, name: str, position: int) -> None:
        cur.execute(
            "INSERT INTO gaia_view_checkpoints (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (name, position),
        )

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died (after the database comes back)."""
        if self._pool is not None:
            from domain.adapters.pools import drop_broken_connections  # noqa: PLC0415

            drop_broken_connections(self._pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _PostgresCursor:
    """Stores text as it can be stored (see the module docstring)."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql, _storable_params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql, [_storable_params(row) for row in rows])

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        # COPY: the rows stream in one statement, without a round trip or a bind per row.
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_storable_params(row))

    def select_by_keys(
        self,
        table: str,
        columns: Sequence[str],
        key_columns: Sequence[str],
        keys: Iterable[Sequence[str]],
    ) -> list[Any]:
        arrays: list[list[Any]] = [[] for _ in key_columns]
        for key in keys:
            for array, value in zip(arrays, key, strict=True):
                array.append(storable(value))
        if not arrays[0]:
            return []
        unnest = ", ".join(["%s::text[]"] * len(key_columns))
        names = ", ".join(key_columns)
        self._cursor.execute(
            f"SELECT {', '.join(f't.{c}' for c in columns)} FROM {table} AS t"
            f" JOIN unnest({unnest}) AS k({names}) USING ({names})",
            arrays,
        )
        return self._cursor.fetchall()


class _SQLiteCursor:
    """Lets SQLite run the same ``%s`` SQL as PostgreSQL, storing text as PostgreSQL would."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("%s", "?"), _storable_params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        return self._cursor.executemany(
            sql.replace("%s", "?"), [_storable_params(row) for row in rows]
        )

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        marks = ", ".join(["?"] * len(columns))
        self._cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            (_storable_params(row) for row in rows),
        )

    def select_by_keys(
        self,
        table: str,
        columns: Sequence[str],
        key_columns: Sequence[str],
        keys: Iterable[Sequence[str]],
    ) -> list[Any]:
        listed = [_storable_params(key) for key in keys]
        names = ", ".join(key_columns)
        on = " AND ".join(f"t.{c} = k.{c}" for c in key_columns)
        one = "(" + ", ".join(["?"] * len(key_columns)) + ")"
        found: list[Any] = []
        for start in range(0, len(listed), KEYS_PER_SELECT):
            chunk = listed[start : start + KEYS_PER_SELECT]
            self._cursor.execute(
                f"WITH k({names}) AS (VALUES {', '.join([one] * len(chunk))})"
                f" SELECT {', '.join(f't.{c}' for c in columns)} FROM k"
                f" JOIN {table} AS t ON {on}",
                [value for key in chunk for value in key],
            )
            found += self._cursor.fetchall()
        return found
