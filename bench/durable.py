"""Group ``durable``: the turn figures with PostgreSQL's production settings, beside the same
baselines under the same settings.

The shared test server runs with ``fsync=off`` and ``synchronous_commit=off``, which makes a
commit nearly free. ``fsync`` takes effect only when the server starts and the server's
command line overrides ``ALTER SYSTEM``, so this group starts a second throwaway cluster
(the tests' starter, :func:`tests.support.postgres.stoppable_cluster`) with ``fsync=on``,
``synchronous_commit=on`` and ``full_page_writes=on`` (PostgreSQL's defaults, as on Cloud
SQL), on this machine's disk, and measures on it:

- ``submit_turn`` appends on one session against raw INSERT+COMMIT (as the ``store`` group);
- HTTP turn acknowledgements at 1 and 50 sessions against the bare FastAPI app doing one
  INSERT (as the ``http_turns`` group).
"""

from __future__ import annotations

from typing import Final

import psycopg
from psycopg import sql

from bench import store as store_group
from bench.core import Context, Row, Store, postmaster_pid, progress, with_database
from bench.http_turns import BASELINE, Comparison, Spec, compare

GROUP: Final = "durable"
STORE: Final = "PostgreSQL, fsync on"
PRODUCTION_SETTINGS: Final = (
    "fsync=on",
    "synchronous_commit=on",
    "full_page_writes=on",
    "max_connections=400",
)
CONCURRENCY: Final = (1, 50)


def run(ctx: Context) -> list[Row]:
    from tests.support.postgres import stoppable_cluster  # noqa: PLC0415 - the tests' starter

    progress(f"{GROUP}: starting a cluster with {', '.join(PRODUCTION_SETTINGS[:3])}")
    with stoppable_cluster(PRODUCTION_SETTINGS) as cluster:
        if (pid := postmaster_pid(cluster.url)) is not None:
            ctx.foreign.adopt(pid)
        settings = _settings(cluster.url)
        progress(f"{GROUP}: {settings}")

        def database_for(label: str) -> str:
            name = f"bench_{label}"
            with psycopg.connect(cluster.url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return with_database(cluster.url, name)

        durable = Store("postgres", database_for("store"), ctx.sqlite_dir(f"{GROUP}-store"))
        rows = store_group.appends(ctx, durable)
        rows += compare(
            ctx,
            group=GROUP,
            store=STORE,
            database_for=database_for,
            specs=[Spec("gaia", "gaia"), Spec("baseline", "baseline")],
            concurrency=CONCURRENCY,
            comparisons=[Comparison(group=GROUP, baseline=f"{BASELINE}, fsync on")],
        )
    for row in rows:
        row.group, row.store = GROUP, STORE
        row.details = {**row.details, "server_settings": settings}
    return rows


def _settings(url: str) -> str:
    """The durability settings the server reports, to be shown with the figures."""
    names = ["fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"]
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s) ORDER BY name", (names,)
        ).fetchall()
    return ", ".join(f"{name}={setting}" for name, setting in found)
