"""Group ``store``: the event store through the Sessions application, beside raw SQL.

(a) Appends: ``Sessions.submit_turn`` on one session, one event per command, configured as the
    service configures it (aggregate cache, snapshot every 100 versions and further apart past
    2,000, per-stream locks),
    against a raw INSERT + COMMIT per row of the same payload size into a scratch table shaped
    like the event table (psycopg on PostgreSQL; stdlib sqlite3 on a WAL file for SQLite).
(b) Rebuild: a cold ``Sessions.get`` (new instance, empty cache) of a 10,000-event session
    without snapshots and with a snapshot at the head (what an interval of 100 leaves at
    10,000 events), and ``get(version=9,999)``, which starts from the snapshot at 9,900 and
    replays 99 events (the worst case for an interval of 100); against a raw SELECT of the
    same rows. A ``get`` without ``version`` goes through the aggregate cache, which hands out
    a deepcopy even on a miss; ``get`` with ``version`` does not, so the difference between
    the last two rows is mostly that copy (measured separately and shown in the notes).
"""

from __future__ import annotations

import copy
import gc
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from bench.core import OWNER, REPS, Context, Row, Store, median, progress, submit_turn, turn_text
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.session import CampaignSession

GROUP: Final = "store"
TURN_TOPIC: Final = "gaia.TurnSubmitted"
PG_EVENTS: Final = "gaia_events"  # the library's table for the application named "gaia"
SQLITE_EVENTS: Final = "stored_events"  # the library's fixed SQLite table name
SQLITE_FILE: Final = "gaia.sqlite3"  # store_env's file for the application named "gaia"
RAW_TABLE: Final = "bench_raw_events"
BUILD_BATCH: Final = 500  # turns per save while building the stream without snapshots
SNAPSHOT_INTERVAL: Final = 100
WRITERS: Final = 16  # threads appending to sessions of their own at once


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for store in ctx.stores(GROUP):
        rows += appends(ctx, store)
        rows += rebuilds(ctx, store)
    return rows


# -- (a) appends ------------------------------------------------------------------------------


class RawWriter(Protocol):
    def append(self, count: int, payload: bytes) -> float:
        """Insert ``count`` rows, one per transaction; return the seconds it took."""

    def close(self) -> None: ...


class PostgresRawWriter:
    """Raw psycopg: one INSERT + COMMIT per row, into a table shaped like ``gaia_events``."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url)
        self._conn.execute(
            sql.SQL(
                "CREATE TABLE {table} (originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, topic text, state bytea, "
                "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
            ).format(table=sql.Identifier(RAW_TABLE))
        )
        self._conn.execute(
            sql.SQL("CREATE UNIQUE INDEX ON {table} (notification_id)").format(
                table=sql.Identifier(RAW_TABLE)
            )
        )
        self._conn.commit()
        self._insert = sql.SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        ).format(table=sql.Identifier(RAW_TABLE))

    def append(self, count: int, payload: bytes) -> float:
        conn, insert, stream = self._conn, self._insert, uuid4()
        started = time.perf_counter()
        for version in range(1, count + 1):
            conn.execute(insert, (stream, version, TURN_TOPIC, payload))
            conn.commit()
        return time.perf_counter() - started

    def close(self) -> None:
        self._conn.close()


class SQLiteRawWriter:
    """Stdlib sqlite3: one INSERT + COMMIT per row, into a WAL file of its own, with the
    library's table shape and its connection settings (WAL, default ``synchronous``)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            f"CREATE TABLE {RAW_TABLE} (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        self._conn.commit()

    def append(self, count: int, payload: bytes) -> float:
        conn, stream = self._conn, uuid4().hex
        insert = f"INSERT INTO {RAW_TABLE} VALUES (?, ?, ?, ?)"  # noqa: S608 - a constant
        started = time.perf_counter()
        for version in range(1, count + 1):
            conn.execute(insert, (stream, version, TURN_TOPIC, payload))
            conn.commit()
        return time.perf_counter() - started

    def close(self) -> None:
        self._conn.close()


def raw_writer(store: Store) -> RawWriter:
    if store.database_url:
        return PostgresRawWriter(store.database_url)
    return SQLiteRawWriter(store.data_dir / "raw.sqlite3")


def stored_state(store: Store, session_id: UUID, version: int) -> bytes:
    """The stored payload (``state`` column) of one event, read back with raw SQL."""
    if store.database_url:
        with psycopg.connect(store.database_url) as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT state FROM {table} WHERE originator_id = %s AND originator_version = %s"
                ).format(table=sql.Identifier(PG_EVENTS)),
                (session_id, version),
            ).fetchone()
    else:
        with sqlite3.connect(store.data_dir / SQLITE_FILE) as conn:
            row = conn.execute(
                f"SELECT state FROM {SQLITE_EVENTS} "  # noqa: S608 - a constant
                "WHERE originator_id = ? AND originator_version = ?",
                (session_id.hex, version),
            ).fetchone()
    if row is None:
        raise RuntimeError(f"event {session_id} v{version} is not in the store")
    return bytes(row[0])


def submit_turns(sessions: Sessions, count: int, tail: int) -> tuple[float, float, float]:
    """Submit ``count`` turns to a new session: seconds for all, seconds for the last ``tail``,
    and milliseconds for one deepcopy of the session at the end (what a cache hit costs)."""
    session_id = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
    started = tail_started = time.perf_counter()
    for n in range(count):
        if n == count - tail:
            tail_started = time.perf_counter()
        sessions.submit_turn(session_id=session_id, actor=OWNER, text=turn_text(n))
    ended = time.perf_counter()
    session = sessions.get(session_id)
    if session.version != count + 1:
        raise RuntimeError(f"expected version {count + 1} after appends, found {session.version}")
    return ended - started, ended - tail_started, deepcopy_ms(session)


def parallel_turns(sessions: Sessions, count: int, writers: int) -> float:
    """Submit ``count`` turns spread over ``writers`` threads, each on a session of its own;
    return the seconds for all (what one database takes when many sessions play at once)."""
    ids = [
        sessions.start_session(owner=OWNER, owner_name="Bench").session_id for _ in range(writers)
    ]
    each = count // writers
    start = threading.Barrier(writers + 1)
    failures: list[BaseException] = []

    def write(session_id: UUID) -> None:
        start.wait()
        try:
            for n in range(each):
                sessions.submit_turn(session_id=session_id, actor=OWNER, text=turn_text(n))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    ended = time.perf_counter()
    if failures:
        raise RuntimeError(f"parallel appends failed: {failures[0]!r}") from failures[0]
    return ended - started


def deepcopy_ms(session: CampaignSession) -> float:
    """Milliseconds for the deepcopy the aggregate cache makes on every ``get``."""
    gc.collect()
    started = time.perf_counter()
    copy.deepcopy(session)
    return (time.perf_counter() - started) * 1000


def appends(ctx: Context, store: Store) -> list[Row]:
    count = ctx.sizes.appends
    tail = count // 4
    progress(f"{GROUP}: {count} submit_turn on one session vs raw INSERT+COMMIT ({store.label})")
    # As the service builds it: store_env defaults and the default snapshot interval.
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    writer = raw_writer(store)
    try:
        probe = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
        sessions.submit_turn(session_id=probe, actor=OWNER, text=turn_text(0))
        payload = stored_state(store, probe, 2)
        ours: list[float] = []
        ours_tail: list[float] = []
        copies: list[float] = []
        parallel: list[float] = []
        base: list[float] = []
        for _ in range(REPS):  # interleaved, so that drift affects both sides alike
            gc.collect()
            total_s, tail_s, copy_ms = submit_turns(sessions, count, tail)
            ours.append(count / total_s)
            ours_tail.append(tail / tail_s)
            copies.append(copy_ms)
            gc.collect()
            parallel.append(count // WRITERS * WRITERS / parallel_turns(sessions, count, WRITERS))
            gc.collect()
            base.append(count / writer.append(count, payload))
    finally:
        writer.close()
        sessions.close()
    baseline = f"raw INSERT+COMMIT, {len(payload)} B"
    details = {
        "events": count,
        "payload_bytes": len(payload),
        "tail_events": tail,
        "deepcopy_ms_at_end": copies,
    }
    return [
        Row(
            GROUP,
            f"append: submit_turn x{count:,}, 1 session, 1 event/txn",
            store.label,
            "ev/s",
            True,
            ours,
            baseline,
            base,
            details=details,
        ),
        Row(
            GROUP,
            f"append: last {tail:,} of those (session at {count - tail + 1:,}+ events)",
            store.label,
            "ev/s",
            True,
            ours_tail,
            baseline,
            base,
            note=f"cache deepcopy at {count + 1:,} ev: {median(copies):.1f} ms/command",
            details=details,
        ),
        Row(
            GROUP,
            f"append: submit_turn x{count // WRITERS * WRITERS:,}, {WRITERS} sessions "
            f"from {WRITERS} threads",
            store.label,
            "ev/s",
            True,
            parallel,
            baseline,
            base,
            note="one process; what the database takes from many sessions at once",
            details={**details, "writers": WRITERS},
        ),
    ]


# -- (b) rebuilds -----------------------------------------------------------------------------


def build_stream(sessions: Sessions, events: int, *, snapshots_from: int | None) -> UUID:
    """A session of exactly ``events`` events (a start, then turns), saved in batches, with a
    snapshot at every multiple of SNAPSHOT_INTERVAL from version ``snapshots_from`` on.

    A get reads only the latest snapshot at or below the version it wants, so the snapshots
    that an interval of 100 would have left below ``snapshots_from`` change nothing measured
    here; skipping them keeps the build short.
    """
    session_id = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
    session = sessions.get(session_id)
    snapshots = sessions.snapshots
    if snapshots_from is not None and snapshots is None:
        raise RuntimeError("the Sessions application has no snapshot store")
    n = 0
    while session.version < events:
        snapshotting = (
            snapshots_from is not None and session.version + BUILD_BATCH >= snapshots_from
        )
        batch = SNAPSHOT_INTERVAL if snapshotting else BUILD_BATCH
        target = min(events, (session.version // batch + 1) * batch)
        while session.version < target:
            submit_turn(session, n)
            n += 1
        sessions.save(session)
        if snapshots is not None and snapshots_from is not None and target >= snapshots_from:
            # What Sessions does when a save crosses an interval boundary.
            snapshots.put([CampaignSession.Snapshot.take(session)])
    return session_id


def cold_get(
    env: dict[str, str], session_id: UUID, *, interval: int, version: int | None, expected: int
) -> tuple[float, float]:
    """Milliseconds for ``get`` on a new Sessions instance (its cache is empty), and for one
    deepcopy of the result (part of a ``get`` without ``version``: the cache copies)."""
    sessions = open_sessions(env, snapshot_interval=interval)
    try:
        gc.collect()
        started = time.perf_counter()
        session = sessions.get(session_id, version=version)
        elapsed = time.perf_counter() - started
    finally:
        sessions.close()
    if session.version != expected:
        raise RuntimeError(f"rebuilt version {session.version}, expected {expected}")
    return elapsed * 1000, deepcopy_ms(session)


def raw_select(store: Store, session_id: UUID, expected: int) -> float:
    """Milliseconds to SELECT and fetch all rows of one stream on a new connection."""
    gc.collect()
    if store.database_url:
        with psycopg.connect(store.database_url) as conn:
            query = sql.SQL(
                "SELECT * FROM {table} WHERE originator_id = %s ORDER BY originator_version"
            ).format(table=sql.Identifier(PG_EVENTS))
            started = time.perf_counter()
            rows: list[Any] = conn.execute(query, (session_id,)).fetchall()
            elapsed = time.perf_counter() - started
    else:
        conn_lite = sqlite3.connect(store.data_dir / SQLITE_FILE)
        try:
            started = time.perf_counter()
            rows = conn_lite.execute(
                f"SELECT * FROM {SQLITE_EVENTS} "  # noqa: S608 - a constant
                "WHERE originator_id = ? ORDER BY originator_version",
                (session_id.hex,),
            ).fetchall()
            elapsed = time.perf_counter() - started
        finally:
            conn_lite.close()
    if len(rows) != expected:
        raise RuntimeError(f"selected {len(rows)} rows, expected {expected}")
    return elapsed * 1000


def snapshot_bytes(sessions: Sessions, session_id: UUID) -> int:
    """Size of the latest stored snapshot of a session."""
    if sessions.snapshots is None:
        return 0
    latest = sessions.snapshots.recorder.select_events(session_id, desc=True, limit=1)
    return len(latest[0].state) if latest else 0


def rebuilds(ctx: Context, store: Store) -> list[Row]:
    events = ctx.sizes.rebuild_events
    if events % SNAPSHOT_INTERVAL:
        raise ValueError(f"rebuild_events must be a multiple of {SNAPSHOT_INTERVAL}")
    progress(f"{GROUP}: building two {events:,}-event sessions ({store.label})")
    env = store_env(store.database_url, store.data_dir, name="gaia")
    builder = open_sessions(env, snapshot_interval=0)
    try:
        started = time.perf_counter()
        plain = build_stream(builder, events, snapshots_from=None)
        snapped = build_stream(builder, events, snapshots_from=events - SNAPSHOT_INTERVAL)
        build_s = time.perf_counter() - started
        snapshot_size = snapshot_bytes(builder, snapped)
    finally:
        builder.close()
    progress(f"{GROUP}: built in {build_s:.1f} s; cold gets vs raw SELECT ({store.label})")
    measures: dict[str, Callable[[], tuple[float, float]]] = {
        "none": lambda: cold_get(env, plain, interval=0, version=None, expected=events),
        "head": lambda: cold_get(
            env, snapped, interval=SNAPSHOT_INTERVAL, version=None, expected=events
        ),
        "behind": lambda: cold_get(
            env, snapped, interval=SNAPSHOT_INTERVAL, version=events - 1, expected=events - 1
        ),
        "raw": lambda: (raw_select(store, plain, events), 0.0),
    }
    runs: dict[str, list[float]] = {key: [] for key in measures}
    copies: dict[str, list[float]] = {key: [] for key in measures}
    for _ in range(REPS):
        for key, measure in measures.items():
            elapsed_ms, copy_ms = measure()
            runs[key].append(elapsed_ms)
            copies[key].append(copy_ms)
    baseline = f"raw SELECT {events:,} rows"
    details = {
        "events": events,
        "snapshot_bytes": snapshot_size,
        "build_seconds": build_s,
        "deepcopy_ms": copies,
    }
    copy_note = f"incl. cache deepcopy ~{median(copies['head']):.0f} ms"
    snap_note = f"snapshot {snapshot_size / 1024:,.0f} KiB"
    return [
        Row(
            GROUP,
            f"rebuild {events:,} ev: cold get, no snapshot",
            store.label,
            "ms",
            False,
            runs["none"],
            baseline,
            runs["raw"],
            note=copy_note,
            details=details,
        ),
        Row(
            GROUP,
            f"rebuild {events:,} ev: cold get, snapshot at head",
            store.label,
            "ms",
            False,
            runs["head"],
            baseline,
            runs["raw"],
            note=f"{snap_note}; {copy_note}",
            details=details,
        ),
        Row(
            GROUP,
            f"rebuild {events:,} ev: get(version={events - 1:,}), snap + 99 ev",
            store.label,
            "ms",
            False,
            runs["behind"],
            baseline,
            runs["raw"],
            note=f"{snap_note}; a get with version skips the cache and its deepcopy",
            details=details,
        ),
    ]
