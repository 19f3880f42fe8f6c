"""The ``projections`` group: rebuilding the "my sessions" view from zero, and how far it trails
the store under a steady write load, beside reading the same events from the notification log.

Baselines, measured in the same run on the same store: reading every notification in pages
(the least a rebuild must do), and a bare tail of the notification log polled like the view's
updater, which shows how long a write takes to be seen at all.
"""

from __future__ import annotations

import threading
import time
from typing import Final
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from bench.copies import COPY_SESSIONS, copied, write_copies
from bench.core import REPS, Context, Row, Store, median, percentile, progress, turn_text
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from projections.database import ViewDatabase
from projections.my_sessions import MySessions
from projections.updater import ViewUpdater
from tests.support.story import narrated_story

GROUP: Final = "projections"
EVENTS_PER_SESSION: Final = 200
TEMPLATE_OWNER: Final = "bench-template-owner"  # swapped for each copy's owner
PAGE: Final = 500
POLL_S: Final = 1.0  # the updater's poll interval in the service (it also wakes on local writes)
# A rebuild slower than this is measured once: repeating it would change the figure little and
# cost minutes of the run.
REPEAT_BELOW_S: Final = 20.0


def run(ctx: Context) -> list[Row]:
    total = 10_000 if ctx.quick else 100_000
    write_seconds = 2.0 if ctx.quick else 5.0
    rows: list[Row] = []
    for store in ctx.stores(GROUP):
        progress(f"{GROUP}: {store.label}: building {total:,} events")
        sessions = open_sessions(
            store_env(store.database_url, store.data_dir, name="gaia"), snapshot_interval=0
        )
        try:
            build(sessions, total, postgres=store.kind == "postgres")
            rows.append(rebuild_row(sessions, store, total))
            rows += lag_rows(sessions, store, write_seconds)
        finally:
            sessions.close()
    return rows


def build(sessions: Sessions, total: int, *, postgres: bool) -> None:
    """``total`` events in sessions of EVENTS_PER_SESSION: turns, each narrated, owned by 997
    users in turn. One session is played through the domain (``narrated_story``); the others are
    its copies (``bench.copies``) under new ids, each with its own owner."""
    played_id = narrated_story(
        sessions,
        owner=TEMPLATE_OWNER,
        owner_name=TEMPLATE_OWNER,
        title="Benchmark",
        turns=EVENTS_PER_SESSION // 2,
        text=turn_text,
        narrative=lambda _n: "The road goes on.",
        save_every=EVENTS_PER_SESSION,
    ).id
    played = list(sessions.recorder.select_events(played_id))
    written = len(played)
    copies: list[StoredEvent] = []
    while written < total:
        owner = f"user-{written % 997}"
        events, _ = copied(played_id, played, [], uuid4(), {TEMPLATE_OWNER: owner})
        copies += events
        written += len(events)
        if len(copies) >= COPY_SESSIONS * EVENTS_PER_SESSION:
            write_copies(sessions, copies, [], postgres=postgres)
    write_copies(sessions, copies, [], postgres=postgres)


def rebuild_row(sessions: Sessions, store: Store, total: int) -> Row:
    ours: list[float] = []
    raw: list[float] = []
    for _ in range(REPS):
        if ours and ours[0] > REPEAT_BELOW_S * 1000:
            break
        started = time.perf_counter()
        position = 0
        while batch := sessions.recorder.select_notifications(
            start=position, limit=PAGE, inclusive_of_start=False
        ):
            position = batch[-1].id
        raw.append((time.perf_counter() - started) * 1000)

        database = ViewDatabase(store.database_url, store.data_dir)
        updater = ViewUpdater(sessions, database, MySessions(), batch_size=PAGE)
        started = time.perf_counter()
        updater.rebuild()
        ours.append((time.perf_counter() - started) * 1000)
        database.close()
    return Row(
        GROUP,
        f"rebuild my-sessions from {total:,} events",
        store.label,
        "ms",
        False,
        ours,
        f"read the {total:,} notifications, pages of {PAGE}",
        raw,
        note=f"{total / median(ours) * 1000:,.0f} ev/s"
        + ("" if len(ours) == REPS else f"; {len(ours)} run (slower than {REPEAT_BELOW_S:g} s)"),
    )


def lag_rows(sessions: Sessions, store: Store, seconds: float) -> list[Row]:
    """Write turns one after another as the service does (each write wakes the view), and
    measure write -> projected, beside write -> seen by a bare notification tail woken the same
    way; both also poll every POLL_S for writes of other processes."""
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions(), poll_interval_s=POLL_S, batch_size=PAGE)
    updater.rebuild()
    updater.start()
    tail_position = sessions.max_position()
    tail_seen = threading.Condition()
    stop = threading.Event()
    tail_wake = threading.Event()

    def tail() -> None:
        nonlocal tail_position
        while not stop.is_set():
            batch = sessions.recorder.select_notifications(
                start=tail_position, limit=PAGE, inclusive_of_start=False
            )
            if batch:
                with tail_seen:
                    tail_position = batch[-1].id
                    tail_seen.notify_all()
            tail_wake.wait(POLL_S)
            tail_wake.clear()

    tailer = threading.Thread(target=tail, daemon=True)
    tailer.start()

    def woken(_sid: object, _version: int, position: int) -> None:
        updater.wake(position)
        tail_wake.set()

    # A writer of its own that wakes both on each write, as the service's application does.
    writer = open_sessions(
        store_env(store.database_url, store.data_dir, name="gaia"),
        snapshot_interval=0,
        on_saved=[woken],
    )
    owner = "lag-writer"
    sid = writer.start_session(owner=owner, owner_name=owner).session_id
    projected, seen = [], []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            written = writer.submit_turn(session_id=sid, actor=owner, text="steady")
            at = time.perf_counter()
            updater.wait_for(written.position, timeout=30)
            projected.append(time.perf_counter() - at)
            target = written.position
            with tail_seen:
                tail_seen.wait_for(lambda: tail_position >= target, timeout=30)  # noqa: B023
            seen.append(time.perf_counter() - at)
    finally:
        stop.set()
        tail_wake.set()
        writer.close()
        updater.stop()
        tailer.join(5)
        database.close()
    ms = [v * 1000 for v in projected]
    base = [v * 1000 for v in seen]
    note = f"{len(ms)} writes, one after another; both woken by each write"
    return [
        Row(
            GROUP,
            "catch-up lag under writes: p50",
            store.label,
            "ms",
            False,
            [percentile(ms, 50)],
            "bare notification tail, same poll",
            [percentile(base, 50)],
            note=note,
        ),
        Row(
            GROUP,
            "catch-up lag under writes: p99",
            store.label,
            "ms",
            False,
            [percentile(ms, 99)],
            "bare notification tail, same poll",
            [percentile(base, 99)],
        ),
    ]
