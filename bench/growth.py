"""Group ``growth``: what one ``submit_turn`` costs as a session grows, in process, beside a raw
INSERT+COMMIT of the same payload (the goal: a cost independent of the session's length); and
what the narration worker's request for that turn costs (the session's history view caught up
to the turn, the turn and the messages before it read), beside the same INSERT+COMMIT.

One session is grown to each length in turn (100, 2,000 and 4,000 events; 100 and 1,000 with
``--quick``) with the domain's own commands saved in batches of 500 events, snapshots every 100
versions as the service takes them; then ``Sessions.submit_turn`` is timed one command at a
time, through an application configured as the service configures it, each followed by the
timed ``narration_request`` of its turn, read through ``SessionViews`` as the worker reads it.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Final
from uuid import UUID

from api.turn_request import narration_request
from bench.core import OWNER, REPS, Context, Row, Store, median, progress, submit_turn, turn_text
from bench.store import SNAPSHOT_INTERVAL, raw_writer, stored_state
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.session import CampaignSession
from projections.session_views import SessionViews

GROUP: Final = "growth"
FULL_POINTS: Final = (100, 2_000, 4_000)
QUICK_POINTS: Final = (100, 1_000)
COMMANDS: Final = 20  # timed commands per repetition at each length
BATCH: Final = 500


def run(ctx: Context) -> list[Row]:
    points = QUICK_POINTS if ctx.quick else FULL_POINTS
    rows: list[Row] = []
    for store in ctx.stores(GROUP):
        rows += measure(store, points)
    return rows


def grow(sessions: Sessions, session_id: UUID, events: int) -> None:
    """Add turns to the session until it has ``events`` events, ``BATCH`` per save, with the
    snapshots the service would have taken at each multiple of the interval."""
    snapshots = sessions.snapshots
    session = sessions.get(session_id)
    n = session.version
    while session.version < events:
        taken = []
        target = min(events, session.version + BATCH)
        while session.version < target:
            submit_turn(session, n)
            n += 1
            if not session.version % SNAPSHOT_INTERVAL:
                taken.append(CampaignSession.Snapshot.take(session))
        sessions.save(session)
        if snapshots is not None and taken:
            snapshots.put(taken)


def measure(store: Store, points: tuple[int, ...]) -> list[Row]:
    progress(
        f"{GROUP}: submit_turn at {', '.join(f'{p:,}' for p in points)} events ({store.label})"
    )
    env = store_env(store.database_url, store.data_dir, name="gaia")
    builder = open_sessions(env, snapshot_interval=0)
    sessions = open_sessions(env)  # as the service: cache, default snapshot interval
    writer = raw_writer(store)
    rows: list[Row] = []
    try:
        session_id = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
        sessions.submit_turn(session_id=session_id, actor=OWNER, text=turn_text(0))
        payload = stored_state(store, session_id, 2)
        views = SessionViews(sessions)
        firsts: dict[str, float] = {}
        by_key: dict[str, list[Row]] = {"turn": [], "request": []}
        for point in points:
            ours: dict[str, list[float]] = {"turn": [], "request": []}
            base: list[float] = []
            for _ in range(REPS):
                grow(builder, session_id, point)
                sessions.get(session_id)  # the service's cache holds a session it serves
                views.read(session_id, lambda view: view.version)  # and the worker's view
                timings: dict[str, list[float]] = {"turn": [], "request": []}
                for n in range(COMMANDS):
                    started = time.perf_counter()
                    accepted = sessions.submit_turn(
                        session_id=session_id, actor=OWNER, text=turn_text(n)
                    )
                    timings["turn"].append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    views.read(session_id, partial(narration_request, str(accepted.turn_id)))
                    timings["request"].append((time.perf_counter() - started) * 1000)
                for key, times in timings.items():
                    ours[key].append(median(times))
                base.append(writer.append(COMMANDS, payload) / COMMANDS * 1000)
            for key, measure_name in (
                ("turn", "one submit_turn"),
                ("request", "narration request for that turn"),
            ):
                first = firsts.setdefault(key, median(ours[key]))
                by_key[key].append(
                    Row(
                        GROUP,
                        f"{measure_name}, session at {point:,} events",
                        store.label,
                        "ms",
                        False,
                        ours[key],
                        f"raw INSERT+COMMIT, {len(payload)} B",
                        base,
                        note=f"{median(ours[key]) / first:.1f}x the cost at {points[0]:,} events",
                        details={"events": point, "commands_per_rep": COMMANDS},
                    )
                )
        rows = by_key["turn"] + by_key["request"]
    finally:
        writer.close()
        sessions.close()
        builder.close()
    return rows
