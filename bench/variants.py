"""The turn figures of ``http_turns`` under other set-ups: servers on a PostgreSQL the caller
chooses (the durable cluster of :mod:`bench.durable`) or in several worker processes
(:mod:`bench.workers`), loaded and reported exactly as ``http_turns`` loads and reports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from api.auth import LocalAuthenticator
from bench.core import JWT_SECRET, Context, Row, progress
from bench.http_turns import Comparison, Server, ServerKind, level, rows_for


@dataclass(frozen=True)
class Spec:
    """One server to start: its label in the results, what it serves, in how many processes."""

    label: str
    kind: ServerKind
    workers: int = 1


async def _compare(
    ctx: Context,
    *,
    group: str,
    store: str,
    database_for: Callable[[str], str],
    specs: Sequence[Spec],
    concurrency: Sequence[int],
    comparisons: Sequence[Comparison],
) -> list[Row]:
    auth = LocalAuthenticator(JWT_SECRET)
    servers: list[Server] = []
    rows: list[Row] = []
    try:
        for spec in specs:
            name = f"{group}_{spec.label}".replace(" ", "_").replace(",", "")
            servers.append(
                await Server.start(
                    spec.kind,
                    database_for(name),
                    ctx.sqlite_dir(name),
                    ctx.scratch / f"{name}-server.log",
                    label=spec.label,
                    workers=spec.workers,
                )
            )
        for sessions in concurrency:
            progress(
                f"{group}: {sessions} concurrent sessions, {ctx.sizes.http_reps} x "
                f"{ctx.sizes.http_seconds:g} s per server ({store})"
            )
            reps = await level(servers, sessions, ctx, auth)
            for compared in comparisons:
                rows += rows_for(store, sessions, reps, servers, compared)
    finally:
        for server in servers:
            await server.stop()
            if server.stalled or server.log_problems():
                ctx.keep(server.log_path)
                progress(f"the {server.label} server ({store}) logged errors; its log is kept")
    return rows


def compare(
    ctx: Context,
    *,
    group: str,
    store: str,
    database_for: Callable[[str], str],
    specs: Sequence[Spec],
    concurrency: Sequence[int],
    comparisons: Sequence[Comparison],
) -> list[Row]:
    """Start every server of ``specs`` (each on its own database from ``database_for``), load
    them alternately at each level of ``concurrency``, and return the rows of ``comparisons``."""
    return asyncio.run(
        _compare(
            ctx,
            group=group,
            store=store,
            database_for=database_for,
            specs=specs,
            concurrency=concurrency,
            comparisons=comparisons,
        )
    )
