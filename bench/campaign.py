"""Group ``campaign``: a session's campaign state read over HTTP, beside a raw read of its rows.

``GET .../campaign`` on a session of 10,000 events with 50 characters (their sheets changed
now and then, narrations carrying combat state), in ms: the first request after a cold start of
the service (``python -m api serve`` in a process of its own) with no stored checkpoint of the
history fold (so the per-session view is folded from the whole stream), the same after a restart
that finds the checkpoints the first start left, and the same request once the view is warm;
against a raw SELECT fetching the same 10,000 rows.

Register with ``"campaign": campaign.run`` in ``bench.GROUPS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID, uuid4

import httpx

from api.auth import LocalAuthenticator
from bench.core import JWT_SECRET, OWNER, Context, Row, Store, progress, turn_text
from bench.timeline import raw_select, serve
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from projections.database import ViewDatabase
from projections.history_checkpoints import TABLE, HistoryCheckpoints

GROUP: Final = "campaign"
SAVE_EVERY: Final = 2000  # events per save while building
WARM_CALLS: Final = 5  # warm requests per repetition; the median is kept


@dataclass(frozen=True)
class Sizes:
    events: int
    characters: int


FULL: Final = Sizes(events=10_000, characters=50)
QUICK: Final = Sizes(events=10_000, characters=50)  # the figure asked for is small already


def run(ctx: Context) -> list[Row]:
    sizes = QUICK if ctx.quick else FULL
    rows: list[Row] = []
    for store in ctx.stores(GROUP):
        rows += measure(ctx, store, sizes)
    return rows


def build_session(store: Store, sizes: Sizes) -> UUID:
    """A session of ``sizes.events`` events: its characters, then turns each followed by a
    narration whose reply updates the combat, with a character's hit points changed between."""
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        session_id = sessions.start_session(owner=OWNER, owner_name="Bench").session_id
        session = sessions.get(session_id)
        now = datetime.now(UTC)
        for n in range(sizes.characters):
            session.create_character(
                actor=OWNER,
                character_id=f"pc:hero_{n}",
                kind="pc",
                sheet={
                    "name": f"Hero {n}",
                    "character_class": "ranger",
                    "level": 3,
                    "hit_points_current": 20,
                    "hit_points_max": 20,
                    "inventory": {"rope": {"qty": 1}, "torch": {"qty": 3}},
                },
                at=now,
            )
        round_number = 0
        while session.version < sizes.events:
            target = min(sizes.events, session.version + SAVE_EVERY)
            while session.version < target:
                left = sizes.events - session.version
                round_number += 1
                hero = f"pc:hero_{round_number % sizes.characters}"
                if left < 3:  # noqa: PLR2004 - a turn and its narration need 2, a change 1
                    session.change_character(
                        actor=OWNER,
                        character_id=hero,
                        changes={"hit_points_current": round_number % 20},
                        at=now,
                    )
                    continue
                turn_id = uuid4()
                session.submit_turn(
                    actor=OWNER,
                    turn_id=turn_id,
                    text=turn_text(session.version),
                    kind="action",
                    character=None,
                    idempotency_key=None,
                    at=now,
                )
                session.complete_narration(
                    turn_id=turn_id,
                    narrative="Steel rings on steel.",
                    answer="",
                    player_options=["Strike", "Retreat"],
                    structured={
                        "narrative": "...",
                        "combat_status": {"orc": {"hp": f"{round_number % 7}/7"}},
                        "turn_info": {"round": round_number, "is_combat": True},
                    },
                    provider="demo",
                    model="demo-1",
                    latency_ms=12,
                    degraded=False,
                    at=now,
                )
            sessions.save(session)
        return session_id
    finally:
        sessions.close()


def measure(ctx: Context, store: Store, sizes: Sizes) -> list[Row]:
    progress(f"{GROUP}: building a {sizes.events:,}-event session ({store.label})")
    started = time.perf_counter()
    session_id = build_session(store, sizes)
    build_s = time.perf_counter() - started
    events = sizes.events
    runs: dict[str, list[float]] = {"cold": [], "restart": [], "warm": [], "raw": []}
    token = LocalAuthenticator(JWT_SECRET).issue(OWNER, "Bench")
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/sessions/{session_id}/campaign"
    for rep in range(ctx.sizes.start_reps):  # two starts of the service each
        forget_checkpoints(store)
        log = ctx.scratch / f"{GROUP}-{store.kind}-server-{rep}.log"
        with (
            serve(store, log) as base_url,
            httpx.Client(base_url=base_url, headers=headers, timeout=600) as client,
        ):
            runs["cold"].append(_timed(client, path, sizes))
            warm = sorted(_timed(client, path, sizes) for _ in range(WARM_CALLS))
            runs["warm"].append(warm[len(warm) // 2])
        log = ctx.scratch / f"{GROUP}-{store.kind}-server-{rep}-restart.log"
        with (
            serve(store, log) as base_url,
            httpx.Client(base_url=base_url, headers=headers, timeout=600) as client,
        ):
            runs["restart"].append(_timed(client, path, sizes))
        runs["raw"].append(raw_select(store, session_id, events) * 1000)
    details = {
        "events": events,
        "characters": sizes.characters,
        "build_seconds": round(build_s, 1),
    }
    baseline = f"raw SELECT {events:,} rows"

    def row(name: str, key: str, note: str) -> Row:
        return Row(
            GROUP,
            name,
            store.label,
            "ms",
            False,
            runs[key],
            baseline,
            runs["raw"],
            note=note,
            details=details,
        )

    return [
        row(f"campaign of {events:,} ev, cold start", "cold", "HTTP; view folded from zero"),
        row(
            f"campaign of {events:,} ev, restart",
            "restart",
            "HTTP; view folded from a stored checkpoint",
        ),
        row(f"campaign of {events:,} ev, warm", "warm", "HTTP; view caught up, median"),
    ]


def forget_checkpoints(store: Store) -> None:
    """Drop the stored checkpoints of the history fold, so the next start folds from zero."""
    database = ViewDatabase(store.database_url, store.data_dir)
    try:
        HistoryCheckpoints(database).close()  # makes the table on a first run
        with database.transaction() as cur:
            cur.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - a constant name
    finally:
        database.close()


def _timed(client: httpx.Client, path: str, sizes: Sizes) -> float:
    """Milliseconds of one request; checks that every character came back."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    if len(response.json()["characters"]) != sizes.characters:
        raise RuntimeError("the campaign did not list every character")
    return elapsed
