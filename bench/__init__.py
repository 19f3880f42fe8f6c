"""Speed benchmarks of the campaign backend against baselines measured in the same run.

Run with ``make bench`` (or ``python -m bench --quick`` for a smoke run, ``--only NAME`` for
one group). Groups, one module each:

- ``store`` (:mod:`bench.store`): event appends and session rebuilds through the Sessions
  application, against raw SQL on the same store.
- ``growth`` (:mod:`bench.growth`): the cost of one ``submit_turn``, and of the narration
  worker's request for that turn, as a session grows (100, 2,000 and 4,000 events), against a
  raw INSERT+COMMIT.
- ``http_turns`` (:mod:`bench.http_turns`): turn submission over HTTP at 1, 10 and 50
  concurrent sessions, against a bare FastAPI app doing one insert per request.
- ``guards`` (:mod:`bench.guards`): the same turn path with the quotas and the body cap on,
  against the same service with them off.
- ``narration`` (:mod:`bench.narration`): the turn path at 50 sessions beside the same service
  narrating nothing, and that one beside the bare FastAPI app: narration's share of the work.
- ``durable`` (:mod:`bench.durable`): appends and HTTP turns at 1 and 50 sessions on a
  PostgreSQL with production settings (``fsync``, ``synchronous_commit`` on), against the same
  baselines on that server.
- ``workers`` (:mod:`bench.workers`): HTTP turns at 1 and 50 sessions with two uvicorn worker
  processes in one instance, against the bare app with two workers and the service with one.
- ``projections`` (:mod:`bench.projections`): rebuilding "my sessions" from zero and its lag
  under writes, against reading the notification log.
- ``live`` (:mod:`bench.live`): delivery latency to 200 and 1,000 open streams and memory per
  stream, against a bare sse-starlette broadcast (PostgreSQL).
- ``timeline`` (:mod:`bench.timeline`): export throughput and state at version 10,000, against
  reading the same rows.
- ``campaign`` (:mod:`bench.campaign`): a session's campaign state (10,000 events, 50
  characters) after a cold start and warm, against reading the same rows.
- ``media`` (:mod:`bench.media`): upload and download through the API against a file copy.
- ``migration`` (:mod:`bench.migration`): legacy import rate against the library's raw append.
- ``startup`` (:mod:`bench.startup`): process start to ready, against a bare FastAPI app.
- ``page`` (:mod:`bench.page`): the player page opened on 1,000 messages in Chromium (time to
  the last message, bytes transferred), against a static page of the same messages.

Shared pieces are in :mod:`bench.core`, the table and the JSON in :mod:`bench.report`, and the
servers under load in :mod:`bench.servers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from bench import (
    campaign,
    durable,
    growth,
    guards,
    http_turns,
    live,
    media,
    migration,
    narration,
    page,
    projections,
    startup,
    store,
    timeline,
    workers,
)
from bench.core import Context, Row

GROUPS: Final[dict[str, Callable[[Context], list[Row]]]] = {
    "store": store.run,
    "growth": growth.run,
    "http_turns": http_turns.run,
    "guards": guards.run,
    "durable": durable.run,
    "workers": workers.run,
    "narration": narration.run,
    "projections": projections.run,
    "live": live.group,
    "timeline": timeline.run,
    "campaign": campaign.run,
    "media": media.run,
    "migration": migration.run,
    "startup": startup.run,
    "page": page.run,
}
