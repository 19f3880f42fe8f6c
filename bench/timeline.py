"""Group ``timeline``: reading a long session's past, beside a raw read of the same rows.

(a) Export: the NDJSON export of a 100,000-event session (turns and narrations, snapshots every
    100 versions as the service takes them), in events/s: streamed over HTTP by the service
    (``python -m api serve`` in a process of its own, timed once its checkpointed views have
    folded the whole store, as a server that has been running would have), produced in-process
    by the same generator, and checked by ``verify_export``; against a raw SELECT fetching the
    same rows.
(b) ``GET .../state?at_version=10000`` on that session over HTTP, in ms: with the first history
    page (a fold of versions 1..10,000) and with ``history=false`` (the aggregate from its
    snapshot); against a raw SELECT of those 10,000 rows.
(c) Floors, against the same baselines: the least work per event of any export of this format
    in Python (parse each stored state with orjson, write it with sorted keys, SHA-256 it after
    the previous hash; no store, no record, no line), and decoding the stored fold at 10,000
    that (b) starts from (the history checkpoint, as the service stored it).

Register with ``"timeline": timeline.run`` in ``bench.GROUPS``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

import httpx
import orjson
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from api.auth import LocalAuthenticator
from bench.core import (
    JWT_SECRET,
    OWNER,
    REPS,
    Context,
    Row,
    Store,
    progress,
    stop,
    turn_text,
)
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.session import CampaignSession
from projections.database import ViewDatabase
from projections.export import ZERO_HASH, ExportSigner, export_bytes, verify_export
from projections.gc_pause import collector_paused
from projections.history_checkpoints import HistoryCheckpoints
from projections.media_index import MediaIndex
from projections.my_sessions import MySessions

GROUP: Final = "timeline"
PG_EVENTS: Final = "gaia_events"  # the library's table for the application named "gaia"
SQLITE_EVENTS: Final = "stored_events"  # the library's fixed SQLite table name
SQLITE_FILE: Final = "gaia.sqlite3"
SAVE_EVERY: Final = 2000  # events per save while building
SNAPSHOT_INTERVAL: Final = 100  # as the service (GAIA_SNAPSHOT_INTERVAL default)
STATE_CALLS: Final = 5  # state requests per repetition; the median is kept
VIEWS: Final = (MySessions.name, MediaIndex.name)  # the service's checkpointed views
VIEWS_TIMEOUT: Final = 600.0  # seconds a fresh server may take to fold the session into them


@dataclass(frozen=True)
class Sizes:
    events: int  # events in the exported session
    at_version: int  # the version asked for by state?at_version


FULL: Final = Sizes(events=100_000, at_version=10_000)
QUICK: Final = Sizes(events=10_000, at_version=2_000)


def run(ctx: Context) -> list[Row]:
    sizes = QUICK if ctx.quick else FULL
    rows: list[Row] = []
    for store in ctx.stores(GROUP):
        rows += measure(ctx, store, sizes)
    return rows


# -- building the session ---------------------------------------------------------------------


def build_session(store: Store, sizes: Sizes) -> UUID:
    """A session of exactly ``sizes.events`` events: a start, then turns each followed by its
    narration (none left waiting), built in memory and saved ``SAVE_EVERY`` events at a time.

    Snapshots are taken as the service takes them (every ``SNAPSHOT_INTERVAL`` versions) up to
    ``sizes.at_version``, then only at the head, which a get of the whole session starts from:
    no other is read here, and the aggregate of a long session (every turn id it ever saw)
    makes each snapshot costly (about 9 MB at 100,000 events).
    """
    env = store_env(store.database_url, store.data_dir, name="gaia")
    sessions = open_sessions(env, snapshot_interval=0)
    try:
        snapshots = sessions.snapshots
        if snapshots is None:
            raise RuntimeError("the Sessions application has no snapshot store")
        session_id = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
        session = sessions.get(session_id)
        waiting = uuid4()
        while session.version < sizes.events:
            taken = []
            target = min(sizes.events, session.version + SAVE_EVERY)
            while session.version < target:
                now = datetime.now(UTC)
                if session.version == sizes.events - 1 and session.version % 2:
                    # No turn left waiting at the end: the service would narrate it.
                    session.record_game_state(
                        actor=None, kind="scene", key="end", data={"turn": 0}, at=now
                    )
                elif session.version % 2:  # odd versions are followed by a turn
                    waiting = uuid4()
                    session.submit_turn(
                        actor=OWNER,
                        turn_id=waiting,
                        text=turn_text(session.version),
                        kind="action",
                        character=None,
                        idempotency_key=None,
                        at=now,
                    )
                else:
                    session.complete_narration(
                        turn_id=waiting,
                        narrative=f"The crypt answers with a long echo. {turn_text(0)}",
                        answer="",
                        player_options=["Look around", "Press on", "Turn back"],
                        structured={"narrative": "...", "mood": 0.5, "turn": session.version},
                        provider="demo",
                        model="demo-1",
                        latency_ms=12,
                        degraded=False,
                        at=now,
                    )
                if session.version <= sizes.at_version and not session.version % SNAPSHOT_INTERVAL:
                    taken.append(CampaignSession.Snapshot.take(session))
            sessions.save(session)
            at_head = session.version == sizes.events
            if at_head and (not taken or taken[-1].originator_version != session.version):
                taken.append(CampaignSession.Snapshot.take(session))
            if taken:
                snapshots.put(taken)
        return session_id
    finally:
        sessions.close()


# -- the baseline -----------------------------------------------------------------------------


def raw_select(store: Store, session_id: UUID, until: int) -> float:
    """Seconds to SELECT and fetch versions 1..``until`` of one stream on a new connection."""
    if store.database_url:
        with psycopg.connect(store.database_url) as conn:
            query = sql.SQL(
                "SELECT * FROM {table} WHERE originator_id = %s AND originator_version <= %s "
                "ORDER BY originator_version"
            ).format(table=sql.Identifier(PG_EVENTS))
            started = time.perf_counter()
            rows: list[Any] = conn.execute(query, (session_id, until)).fetchall()
            elapsed = time.perf_counter() - started
    else:
        conn_lite = sqlite3.connect(store.data_dir / SQLITE_FILE)
        try:
            started = time.perf_counter()
            rows = conn_lite.execute(
                f"SELECT * FROM {SQLITE_EVENTS} "  # noqa: S608 - a constant
                "WHERE originator_id = ? AND originator_version <= ? ORDER BY originator_version",
                (session_id.hex, until),
            ).fetchall()
            elapsed = time.perf_counter() - started
        finally:
            conn_lite.close()
    if len(rows) != until:
        raise RuntimeError(f"selected {len(rows)} rows, expected {until}")
    return elapsed


# -- the service in a process of its own -----------------------------------------------------


@contextmanager
def serve(store: Store, log: Path) -> Iterator[str]:
    """``python -m api serve`` on a free port over ``store``; yields its base URL."""
    port = _free_port()
    env = os.environ | {
        "GAIA_DATA_DIR": str(store.data_dir),
        "GAIA_DATABASE_URL": store.database_url or "",
        "GAIA_JWT_SECRET": JWT_SECRET,
        "GAIA_AUTH_MODE": "local",
        "GAIA_LOG_LEVEL": "WARNING",
        "PORT": str(port),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base_url, process)
            yield base_url
        finally:
            stop(process)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the service did not become healthy in time")


def wait_views(store: Store, client: httpx.Client, timeout: float = VIEWS_TIMEOUT) -> float:
    """Wait until every checkpointed view of the service has folded the whole store (a server
    on a fresh view database rebuilds them from the first event, which would otherwise run
    beside the timed requests); returns the seconds waited. The store's head comes from
    ``/readyz``, which answers 200 once "my sessions" trails it by little: both views must then
    stand exactly at the head."""
    started = time.monotonic()
    database = ViewDatabase(store.database_url, store.data_dir)  # the service's view database
    try:
        while time.monotonic() - started < timeout:
            answer = client.get("/readyz").json()
            head = answer.get("position")
            if isinstance(head, int) and answer.get("projection_lag") == 0:
                with database.transaction() as cur:
                    positions = [database.position(cur, name) for name in VIEWS]
                if min(positions) >= head:
                    return time.monotonic() - started
            time.sleep(0.1)
    finally:
        database.close()
    raise RuntimeError(f"the service's views did not catch up within {timeout:.0f} s")


def http_export(client: httpx.Client, session_id: UUID, events: int) -> float:
    """Seconds to stream the whole export; checks the line count."""
    lines = 0
    started = time.perf_counter()
    with client.stream("GET", f"/api/sessions/{session_id}/export") as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    if lines != events + 2:
        raise RuntimeError(f"the export had {lines} lines, expected {events + 2}")
    return elapsed


def http_state(client: httpx.Client, session_id: UUID, at_version: int, *, history: bool) -> float:
    """Median milliseconds of ``STATE_CALLS`` state requests."""
    params: dict[str, str | int] = {
        "at_version": at_version,
        "history": str(history).lower(),
        "campaign": str(history).lower(),  # history=false measures the aggregate's snapshot
    }
    times = []
    for _ in range(STATE_CALLS):
        started = time.perf_counter()
        response = client.get(f"/api/sessions/{session_id}/state", params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if response.json()["version"] != at_version:
            raise RuntimeError("state answered another version")
    return sorted(times)[len(times) // 2]


# -- the group --------------------------------------------------------------------------------


def measure(ctx: Context, store: Store, sizes: Sizes) -> list[Row]:
    events, at = sizes.events, sizes.at_version
    progress(f"{GROUP}: building a {events:,}-event session ({store.label})")
    started = time.perf_counter()
    session_id = build_session(store, sizes)
    build_s = time.perf_counter() - started
    progress(f"{GROUP}: built in {build_s:.1f} s; export and state vs raw SELECT ({store.label})")
    runs = in_process(store, session_id, sizes) | over_http(ctx, store, session_id, sizes)
    details = {"events": events, "at_version": at, "build_seconds": round(build_s, 1)}
    baselines = {
        "ev/s": (f"raw SELECT {events:,} rows", runs["raw"]),
        "ms": (f"raw SELECT {at:,} rows", runs["raw_at"]),
    }

    def row(name: str, key: str, unit: str, note: str) -> Row:
        baseline, baseline_runs = baselines[unit]
        higher_is_better = unit == "ev/s"
        return Row(
            GROUP,
            name,
            store.label,
            unit,
            higher_is_better,
            runs[key],
            baseline,
            baseline_runs,
            note=note,
            details=details,
        )

    return [
        row(f"export {events:,} ev over HTTP", "http", "ev/s", "streamed NDJSON + SHA-256 chain"),
        row(
            f"export {events:,} ev in-process", "inproc", "ev/s", "the generator the route streams"
        ),
        row(f"verify-export {events:,} ev", "verify", "ev/s", "verify_export on the same lines"),
        row(f"state?at_version={at:,} with history", "state", "ms", "HTTP; fold, first page"),
        row(f"state?at_version={at:,}&history=false", "bare", "ms", "HTTP; aggregate snapshot"),
        row(
            "export floor: parse, sorted write, SHA-256",
            "export_floor",
            "ev/s",
            "orjson + hashlib per fetched row: no Python export of the format does less",
        ),
        row(
            f"state floor: decode the stored fold at {at:,}",
            "state_floor",
            "ms",
            "orjson.loads of the history checkpoint that the state route starts from",
        ),
    ]


def in_process(store: Store, session_id: UUID, sizes: Sizes) -> dict[str, list[float]]:
    """Export and verify in this process, and the raw SELECTs, ``REPS`` times each."""
    events = sizes.events
    runs: dict[str, list[float]] = {
        "inproc": [],
        "verify": [],
        "raw": [],
        "raw_at": [],
        "export_floor": [],
    }
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        title = sessions.get(session_id).title
        states = [stored.state for stored in sessions.recorder.select_events(session_id)]
        signer = ExportSigner(Ed25519PrivateKey.generate())
        for _ in range(REPS):
            started = time.perf_counter()
            blocks = list(
                export_bytes(
                    sessions,
                    session_id,
                    title=title,
                    until=events,
                    exported_at="now",
                    signer=signer,
                )
            )
            runs["inproc"].append(events / (time.perf_counter() - started))
            started = time.perf_counter()
            verified = verify_export(
                (line for block in blocks for line in block.splitlines()), signer.public
            )
            runs["verify"].append(events / (time.perf_counter() - started))
            if verified.count != events:
                raise RuntimeError("the export did not verify")
            del blocks
            runs["raw"].append(events / raw_select(store, session_id, events))
            runs["raw_at"].append(raw_select(store, session_id, sizes.at_version) * 1000)
            runs["export_floor"].append(events / export_floor(states))
    finally:
        sessions.close()
    return runs


def export_floor(states: list[bytes]) -> float:
    """Seconds for the least per-event work of a hash-chained canonical export in Python:
    parse each stored state, write it with sorted keys, hash it after the previous hash."""
    prev = ZERO_HASH.encode()
    started = time.perf_counter()
    for state in states:
        canonical = orjson.dumps(orjson.loads(state), option=orjson.OPT_SORT_KEYS)
        prev = hashlib.sha256(prev + canonical).hexdigest().encode()
    return time.perf_counter() - started


def state_floor(store: Store, session_id: UUID, at_version: int) -> list[float]:
    """Milliseconds to decode the history checkpoint at ``at_version`` that the service stored
    in its view database, ``REPS`` times, with the cycle collector paused as the route pauses
    it (projections.gc_pause)."""
    database = ViewDatabase(store.database_url, store.data_dir)
    checkpoints = HistoryCheckpoints(database)
    try:
        found = checkpoints.nearest(session_id, at_version)
    finally:
        checkpoints.close()
        database.close()
    if found is None or found[0] != at_version:
        raise RuntimeError(f"the service stored no history checkpoint at {at_version}")
    times = []
    for _ in range(REPS):
        with collector_paused():
            started = time.perf_counter()
            orjson.loads(found[2])
            times.append((time.perf_counter() - started) * 1000)
    return times


def over_http(ctx: Context, store: Store, session_id: UUID, sizes: Sizes) -> dict[str, list[float]]:
    """The export and the state route of the service in its own process, ``REPS`` times each."""
    runs: dict[str, list[float]] = {"http": [], "state": [], "bare": []}
    token = LocalAuthenticator(JWT_SECRET).issue(OWNER, "Bench")
    log = ctx.scratch / f"{GROUP}-{store.kind}-server.log"
    headers = {"Authorization": f"Bearer {token}"}
    with (
        serve(store, log) as base_url,
        httpx.Client(base_url=base_url, headers=headers, timeout=600) as client,
    ):
        # Untimed: the first request folds the session's live view, as a first visit would.
        client.get(f"/api/sessions/{session_id}").raise_for_status()
        waited = wait_views(store, client)
        progress(f"{GROUP}: the server's views caught up in {waited:.1f} s ({store.label})")
        for _ in range(REPS):
            runs["http"].append(sizes.events / http_export(client, session_id, sizes.events))
            runs["state"].append(http_state(client, session_id, sizes.at_version, history=True))
            runs["bare"].append(http_state(client, session_id, sizes.at_version, history=False))
    runs["state_floor"] = state_floor(store, session_id, sizes.at_version)
    return runs
