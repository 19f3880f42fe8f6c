"""Group ``startup``: time from process start to ``/readyz`` = 200, the container's start command
(``python -m api serve``) on an empty store and on stores of 100,000 and (PostgreSQL, not with
``--quick``) 1,000,000 events, beside a bare FastAPI app started the same way (a subprocess,
uvicorn, one route) in the same run.

A large store is what a running service leaves behind: sessions of 1,000 events (turns
and their narrations, snapshots every 100 versions) and the my-sessions view caught up to the
head, so a start reads the view's checkpoint instead of replaying. Seeding and that catch-up
are timed too and reported in the row's details. The goal: under 5 s to ready.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import UUID, uuid4

import httpx
from eventsourcing.persistence import StoredEvent

from bench.copies import COPY_SESSIONS, copied, played_snapshots, write_copies
from bench.core import (
    JWT_SECRET,
    OWNER,
    Context,
    Row,
    Store,
    progress,
    stop,
    submit_turn,
)
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.session import CampaignSession
from projections.database import ViewDatabase
from projections.my_sessions import MySessions
from projections.updater import ViewUpdater

GROUP: Final = "startup"
FULL_EVENTS: Final = (100_000, 1_000_000)  # 1M on PostgreSQL only: the production store
QUICK_EVENTS: Final = (10_000,)
LARGEST_ON_POSTGRES_ONLY: Final = 1_000_000
EVENTS_PER_SESSION: Final = 1_000
SAVE_BATCH: Final = 500  # events per save while seeding
GOAL_S: Final = 5.0
READY_TIMEOUT_S: Final = 120.0
BASELINE: Final = "bare FastAPI app (uvicorn, one route)"
BARE_APP: Final = """
import sys
import uvicorn
from fastapi import FastAPI

app = FastAPI()

@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ok"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
ROOT: Final = Path(__file__).resolve().parents[1]


def run(ctx: Context) -> list[Row]:
    """Register in bench/__init__.py's GROUPS as ``"startup": startup.run``."""
    events = QUICK_EVENTS if ctx.quick else FULL_EVENTS
    rows: list[Row] = []
    reps = ctx.sizes.start_reps
    stores = ctx.stores(GROUP)
    # Untimed: the first start of each reads its modules from disk, the rest from the cache.
    ready_after(service_command, service_env(stores[-1]))
    ready_after(bare_command, {})
    for store in stores:
        empty_runs = [ready_after(service_command, service_env(store)) for _ in range(reps)]
        bare_runs = [ready_after(bare_command, {}) for _ in range(reps)]
        rows.append(row("start to ready, empty store", store, empty_runs, bare_runs, {}))

        seeded = 0
        for total in events:
            if total >= LARGEST_ON_POSTGRES_ONLY and store.kind != "postgres":
                continue
            # Each size adds to the store the last one left, as a service's store grows.
            progress(f"{GROUP}: seeding {total - seeded:,} events to {total:,} ({store.label})")
            details = seed(store, total - seeded)
            seeded = total
            full_runs = [ready_after(service_command, service_env(store)) for _ in range(reps)]
            bare_runs = [ready_after(bare_command, {}) for _ in range(reps)]
            rows.append(
                row(f"start to ready, {total:,} events", store, full_runs, bare_runs, details)
            )
            progress(
                f"{GROUP}: seeded in {details['seed_s']:.0f} s, view caught up in "
                f"{details['view_catch_up_s']:.0f} s ({store.label})"
            )
    return rows


def row(
    measure: str,
    store: Store,
    runs: list[float],
    baseline_runs: list[float],
    details: dict[str, float],
) -> Row:
    worst = max(runs)
    verdict = "within" if worst < GOAL_S else "OVER"
    return Row(
        group=GROUP,
        measure=measure,
        store=store.label,
        unit="s",
        higher_is_better=False,
        runs=runs,
        baseline=BASELINE,
        baseline_runs=baseline_runs,
        note=f"slowest {worst:.2f} s: {verdict} the {GOAL_S:.0f} s goal",
        details=details,
    )


def service_command(_port: int) -> list[str]:
    return [sys.executable, "-m", "api", "serve"]  # the port comes from PORT


def bare_command(port: int) -> list[str]:
    return [sys.executable, "-c", BARE_APP, str(port)]


def service_env(store: Store) -> dict[str, str]:
    return {
        "GAIA_DATABASE_URL": store.database_url or "",
        "GAIA_DATA_DIR": str(store.data_dir),
        "GAIA_JWT_SECRET": JWT_SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
    }


def ready_after(command_for: Callable[[int], list[str]], env: dict[str, str]) -> float:
    """Seconds from starting the server ``command_for(port)`` until its ``/readyz`` answers 200;
    the process is stopped afterwards."""
    port = free_port()
    command = command_for(port)
    full_env = os.environ | env | {"PORT": str(port), "HOST": "127.0.0.1"}
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=1) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command} exited with {process.returncode}")
                try:
                    answer = client.get(f"http://127.0.0.1:{port}/readyz")
                    if answer.status_code == httpx.codes.OK:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > READY_TIMEOUT_S:
                    raise RuntimeError(f"{command} not ready after {READY_TIMEOUT_S} s")
                time.sleep(0.005)
    finally:
        stop(process)


def seed(store: Store, events: int) -> dict[str, float]:
    """Fill ``store`` with ``events`` events and catch the my-sessions view up to them.

    One session of each size is played through the domain; the others are copies of its
    stored events and snapshots under new ids, written COPY_SESSIONS to a transaction: a
    start reads the same rows either way, and a million events are seeded in a fraction of
    the time playing each of them would take."""
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    postgres = store.kind == "postgres"
    started = time.perf_counter()
    try:
        played: dict[int, tuple[UUID, list[StoredEvent], list[StoredEvent]]] = {}
        copies: list[StoredEvent] = []
        copied_snapshots: list[StoredEvent] = []
        written = 0
        while written < events:
            size = min(EVENTS_PER_SESSION, events - written)
            if size not in played:
                played[size] = play_session(sessions, size, written // EVENTS_PER_SESSION)
            else:
                stored, snapshots = copied(*played[size], uuid4())
                copies += stored
                copied_snapshots += snapshots
                if len(copies) >= COPY_SESSIONS * EVENTS_PER_SESSION:
                    write_copies(sessions, copies, copied_snapshots, postgres=postgres)
            written += size
        write_copies(sessions, copies, copied_snapshots, postgres=postgres)
        seeded_s = time.perf_counter() - started
        view_database = ViewDatabase(store.database_url, store.data_dir)
        try:
            updater = ViewUpdater(sessions, view_database, MySessions(), batch_size=1000)
            started = time.perf_counter()
            while updater.run_once():
                pass
            caught_up_s = time.perf_counter() - started
        finally:
            view_database.close()
        return {
            "events": float(sessions.max_position()),
            "seed_s": round(seeded_s, 2),
            "view_catch_up_s": round(caught_up_s, 2),
        }
    finally:
        sessions.close()


def play_session(
    sessions: Sessions, size: int, number: int
) -> tuple[UUID, list[StoredEvent], list[StoredEvent]]:
    """A session of ``size`` events played and saved SAVE_BATCH at a time, each save
    snapshotted; its id, stored events and stored snapshots."""
    snapshots = played_snapshots(sessions)
    session = CampaignSession.start(
        session_id=uuid4(),
        title=f"Bench campaign {number}",
        owner=OWNER,
        owner_name="Bench",
        settings={},
        origin={"kind": "new"},
        actor=OWNER,
        at=datetime.now(UTC),
    )
    n = 0
    while session.version < size:
        target = min(size, (session.version // SAVE_BATCH + 1) * SAVE_BATCH)
        while session.version < target:
            play(session, n, last=session.version + 1 == target)
            n += 1
        sessions.save(session)
        snapshots.put([CampaignSession.Snapshot.take(session)])
    return (
        session.id,
        list(sessions.recorder.select_events(session.id)),
        list(snapshots.recorder.select_events(session.id)),
    )


def play(session: CampaignSession, n: int, *, last: bool) -> None:
    """One event: a turn, or the narration of the turn before it (never leaving one pending,
    which would set the worker narrating at start-up)."""
    pending = session.pending_turns()
    at = datetime.now(UTC)
    if pending:
        session.complete_narration(
            turn_id=UUID(pending[0]),
            narrative=f"The crypt answers turn {n}.",
            answer="",
            player_options=["Go on", "Turn back"],
            structured={},
            provider="demo",
            model="demo",
            latency_ms=5,
            degraded=False,
            at=at,
        )
    elif last:  # a turn here would stay pending: record something quiet instead
        session.rename(actor=OWNER, title=f"Bench campaign {session.id} at {n}", at=at)
    else:
        submit_turn(session, n, at)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
