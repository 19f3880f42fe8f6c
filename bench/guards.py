"""Group ``guards``: what the request guards cost on the turn path, measured as ``http_turns``
measures it, with the guards on (ours) beside the same service with them off (baseline).

On: the quotas (``GAIA_QUOTAS_ENABLED=true``, with limits this load never reaches, so every
turn pays for the checks and none is refused) and the 1 MiB JSON body cap
(``GAIA_MAX_BODY_BYTES``). Off: ``GAIA_QUOTAS_ENABLED=false`` and a body cap no request comes
near. Both are the real service (``create_app`` with the instant demo narrator) in a uvicorn
subprocess of its own, on PostgreSQL and on SQLite, loaded alternately in the same run.
"""

from __future__ import annotations

import asyncio
from typing import Final

from api.auth import LocalAuthenticator
from bench.core import JWT_SECRET, Context, Row, progress
from bench.http_turns import UNREACHED_QUOTAS, Comparison, Server, level, rows_for

GROUP: Final = "guards"
CONCURRENCY: Final = (1, 10)  # one client shows the latency added, ten the throughput
GUARDS_ON: Final = UNREACHED_QUOTAS | {"GAIA_MAX_BODY_BYTES": str(1024 * 1024)}
GUARDS_OFF: Final = {"GAIA_QUOTAS_ENABLED": "false", "GAIA_MAX_BODY_BYTES": str(1024**3)}
COMPARED: Final = Comparison(
    group=GROUP,
    ours="guards on",
    base="guards off",
    baseline="same, guards off",
    measure="HTTP turn POST, guards on",
)


async def run_store(ctx: Context, postgres: bool) -> list[Row]:
    store = "PostgreSQL" if postgres else "SQLite"
    auth = LocalAuthenticator(JWT_SECRET)
    servers: list[Server] = []
    rows: list[Row] = []
    try:
        for label, env in ((COMPARED.ours, GUARDS_ON), (COMPARED.base, GUARDS_OFF)):
            name = f"{GROUP}_{label.replace(' ', '_')}"
            url = ctx.postgres_database(name) if postgres else None
            data_dir = ctx.sqlite_dir(f"{name}-{store.lower()}")
            log_path = ctx.scratch / f"{name}-server-{store.lower()}.log"
            servers.append(
                await Server.start("gaia", url, data_dir, log_path, label=label, env=env)
            )
        for concurrency in CONCURRENCY:
            progress(
                f"{GROUP}: {concurrency} concurrent sessions, {ctx.sizes.http_reps} x "
                f"{ctx.sizes.http_seconds:g} s per server ({store})"
            )
            reps = await level(servers, concurrency, ctx, auth)
            rows += rows_for(store, concurrency, reps, servers, COMPARED)
    finally:
        for server in servers:
            await server.stop()
            if server.stalled or server.log_problems():
                ctx.keep(server.log_path)
                progress(f"the {server.label} server ({store}) logged errors; its log is kept")
    return rows


def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for postgres in (True, False):
        rows += asyncio.run(run_store(ctx, postgres))
    return rows
