"""Group ``migration``: importing legacy campaigns, beside the library appending the same events.

Ours: the whole ``migrate_legacy`` job (discover, read, parse, map and encode in worker processes,
one per CPU, while the parent writes one transaction per campaign, plus the snapshots of the
streams, in batches) over 500 generated L3 campaigns of 200 messages each (50 in a quick run),
into an empty store, in events/s. Baseline: the same campaigns parsed and mapped beforehand
(untimed), their events then appended with the library's ``EventStore.put``, one call (one
transaction) per campaign, on one thread, into another empty store of the same kind, through the
service's recorders (on PostgreSQL they append in one round trip, as the importer's writes do).

Register with ``"migration": migration.run`` in ``bench.GROUPS``.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.core import REPS, Context, Row, Store, progress
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from migrate_legacy.campaign import parse_campaign
from migrate_legacy.discovery import discover
from migrate_legacy.job import DEFAULT_WORKERS, Config, no_images
from migrate_legacy.job import run as run_job
from migrate_legacy.mapping import Options, map_campaign
from migrate_legacy.sources import load
from migrate_legacy.timestamps import UTC_ZONE

GROUP: Final = "migration"
JOBS: Final = 4
WORKERS: Final = DEFAULT_WORKERS


@dataclass(frozen=True)
class Sizes:
    campaigns: int
    messages: int


FULL: Final = Sizes(campaigns=500, messages=200)
QUICK: Final = Sizes(campaigns=50, messages=200)


def run(ctx: Context) -> list[Row]:
    sizes = QUICK if ctx.quick else FULL
    source = ctx.scratch / "legacy"
    write_corpus(source, sizes)
    events = sizes.campaigns * (sizes.messages + 1)
    progress(
        f"{GROUP}: {sizes.campaigns} campaigns x {sizes.messages} messages = {events:,} events"
    )
    rows: list[Row] = []
    ours: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    labels: dict[str, str] = {}
    started = time.perf_counter()
    mapped = mapped_campaigns(source)  # once: the baseline appends the same events every time
    progress(f"{GROUP}: campaigns mapped for the baseline in {time.perf_counter() - started:.0f} s")
    for rep in range(REPS):  # fresh stores each time: an import into a filled store writes nothing
        for mine, raw in zip(
            ctx.stores(f"{GROUP}{rep}"), ctx.stores(f"{GROUP}{rep}raw"), strict=True
        ):
            labels[mine.kind] = mine.label
            ours.setdefault(mine.kind, []).append(import_rate(source, mine, events))
            base.setdefault(mine.kind, []).append(append_rate(mapped, raw, events))
            progress(
                f"{GROUP}: {mine.label} rep {rep + 1}: import {ours[mine.kind][-1]:,.0f} ev/s, "
                f"library append {base[mine.kind][-1]:,.0f} ev/s"
            )
    for kind, label in labels.items():
        rows.append(
            Row(
                GROUP,
                f"import {sizes.campaigns} campaigns x {sizes.messages} msgs ({WORKERS} workers)",
                label,
                "ev/s",
                True,
                ours[kind],
                "EventStore.put, service recorder, 1 txn/campaign, pre-mapped",
                base[kind],
                details={
                    "campaigns": sizes.campaigns,
                    "messages": sizes.messages,
                    "events": events,
                },
            )
        )
    return rows


def write_corpus(root: Path, sizes: Sizes) -> None:
    """L3 campaigns with metadata and a history of alternating player and narrator messages."""
    for n in range(sizes.campaigns):
        folder = root / f"campaign_{n}"
        (folder / "logs").mkdir(parents=True)
        metadata = {"name": f"Campaign {n}", "owner_user_id": f"user-{n % 37}"}
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2))
        history = [_message(n, i) for i in range(sizes.messages)]
        text = json.dumps(history, indent=2, ensure_ascii=False)
        (folder / "logs/chat_history.json").write_text(text, encoding="utf-8")


def _message(campaign: int, i: int) -> dict[str, Any]:
    at = f"2025-03-{1 + i // 1440 % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00.{i:06d}"
    if i % 2 == 0:
        return {
            "role": "user",
            "content": f"I raise the lantern and step into the flooded crypt (turn {i}).",
            "timestamp": at,
            "character_name": "Mira Fen",
            "character_id": "pc:mira_fen",
            "message_id": f"msg_{campaign:06x}{i:06x}",
        }
    return {
        "role": "assistant",
        "content": {
            "narrative": "Water laps at the steps; something moves beyond the light. " * 3,
            "answer": "",
            "player_options": ["Wade in", "Call out", "Retreat"],
            "turn": f"Your turn: {i}",
        },
        "timestamp": at,
        "message_id": f"msg_{campaign:06x}{i:06x}",
    }


def import_rate(source: Path, store: Store, events: int) -> float:
    config = Config(
        source=source,
        database_url=store.database_url,
        data_dir=store.data_dir,
        jobs=JOBS,
        workers=WORKERS,
    )
    started = time.perf_counter()
    report = run_job(config, stream=io.StringIO(), tty=False)
    elapsed = time.perf_counter() - started
    written = report["totals"]["events_written"]
    if written != events:
        raise RuntimeError(f"the import wrote {written} events, expected {events}")
    return events / elapsed


def mapped_campaigns(source: Path) -> list[list[Any]]:
    """Each campaign's events as the importer maps them, not yet stored: the baseline's input,
    made once (untimed) for every store and repetition."""
    sessions = open_sessions(store_env(None, source.parent / "mapping", name="gaia"))
    options = Options(UTC_ZONE)
    campaigns: list[list[Any]] = []
    try:
        for candidate in discover(source).campaigns:
            parsed = parse_campaign(candidate, [load(f) for f in candidate.files], UTC_ZONE)
            plan = map_campaign(parsed, options, no_images)
            session = sessions.start_legacy_session(**plan.start)
            for step in plan.steps:
                step.apply(session)
            campaigns.append(list(session.collect_events()))
    finally:
        sessions.close()
    return campaigns


def append_rate(campaigns: list[list[Any]], store: Store, events: int) -> float:
    """The library alone: ``EventStore.put`` of each campaign's mapped events, timed."""
    sessions = open_sessions(
        store_env(store.database_url, store.data_dir, name="gaia", cache_size=0)
    )
    elapsed, count = 0.0, 0
    try:
        for pending in campaigns:
            started = time.perf_counter()
            sessions.events.put(pending)
            elapsed += time.perf_counter() - started
            count += len(pending)
    finally:
        sessions.close()
    if count != events:
        raise RuntimeError(f"appended {count} events, expected {events}")
    return count / elapsed
