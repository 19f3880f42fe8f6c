"""The results: the conditions of the run, one combined text table, and the JSON files."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psycopg

from bench.core import REPS, Context, Row

PACKAGES: Final = (
    "eventsourcing",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic",
)
SQLITE_SYNCHRONOUS: Final = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
REPO: Final = Path(__file__).resolve().parents[1]
BUSY_SHARE: Final = 0.10  # foreign CPU, as a share of one core, above which figures are suspect


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed git command
            ["git", *args],  # noqa: S607 - git from PATH
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return result.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def postgres_conditions(server_url: str) -> dict[str, str]:
    """The server's version and the settings that decide how durable a commit is."""
    with psycopg.connect(server_url) as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes")
        }


def sqlite_conditions() -> dict[str, str]:
    """SQLite's version and what a WAL connection gets when, as the library does, it sets
    only ``journal_mode``."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "probe.sqlite3")
        try:
            journal = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        finally:
            conn.close()
    return {
        "version": sqlite3.sqlite_version,
        "journal_mode": str(journal),
        "synchronous": SQLITE_SYNCHRONOUS.get(synchronous, str(synchronous)),
    }


def environment(ctx: Context) -> dict[str, Any]:
    """Everything needed to compare this run with another one."""
    uvicorn_impl = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    uvicorn_http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return {
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "sizes": ctx.sizes.__dict__,
        "repetitions": REPS,
        "http_repetitions": ctx.sizes.http_reps,
        "quick": ctx.quick,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "packages": {name: _version(name) for name in PACKAGES},
        "psycopg_impl": psycopg.pq.__impl__,
        "uvicorn_loop_http": f"{uvicorn_impl} + {uvicorn_http}",
        "postgres": postgres_conditions(ctx.server_url),
        "sqlite": sqlite_conditions(),
        "http_servers": "subprocess per server (python -m bench.servers: uvicorn.run, 1 worker)",
        "http_client": "the bench process: one coroutine per session, each with its own "
        "httpx.AsyncClient (one keep-alive connection)",
    }


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit not in ("ms", "s") or value >= 100:  # noqa: PLR2004
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"  # noqa: PLR2004


def _ratio(row: Row) -> str:
    ratio = row.ratio
    if math.isnan(ratio):
        return "n/a"
    if ratio >= 100:  # noqa: PLR2004
        return f"{ratio:,.0f}"
    return f"{ratio:.3f}" if ratio < 1 else f"{ratio:.2f}"


def render(rows: list[Row], env: dict[str, Any]) -> str:
    """The combined table, with the conditions of the run in its footer."""
    header = (
        "group",
        "measurement",
        "store",
        "ours",
        "baseline",
        "base value",
        "ours/base",
        "note",
    )
    cells = [
        (
            row.group,
            row.measure,
            row.store,
            f"{_number(row.value, row.unit)} {row.unit}",
            row.baseline,
            f"{_number(row.baseline_value, row.unit)} {row.unit}",
            _ratio(row),
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    right = {3, 5, 6}

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(
            value.rjust(width) if i in right else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    body = [line(header), rule]
    previous = None
    for row, cell in zip(rows, cells, strict=True):
        if previous is not None and (row.group, row.store) != previous:
            body.append("")
        previous = (row.group, row.store)
        body.append(line(cell))
    return "\n".join([*body, rule, *footer(env, {row.group for row in rows})])


def footer(env: dict[str, Any], groups: set[str]) -> list[str]:
    """The conditions of the run; the HTTP lines only when HTTP groups ran."""
    pg, lite, pkgs = env["postgres"], env["sqlite"], env["packages"]
    return [
        f"ours/base = our figure / the baseline's. In ev/s and turns/s higher is better (below 1 "
        f"= slower than the baseline); in ms lower is better (above 1 = slower). Every figure is "
        f"the median of {env['repetitions']} repetitions (HTTP turn levels: "
        f"{env.get('http_repetitions', env['repetitions'])}; each start of the startup and "
        f"campaign groups: {env['sizes'].get('start_reps', env['repetitions'])}); p50/p99 are "
        f"taken within each repetition.",
        f"DURABILITY: PostgreSQL {pg['server_version']} test cluster with fsync={pg['fsync']}, "
        f"synchronous_commit={pg['synchronous_commit']}, full_page_writes="
        f"{pg['full_page_writes']} (throwaway settings, NOT production: commits are cheaper "
        f"than on a durable server). SQLite {lite['version']}: journal_mode="
        f"{lite['journal_mode']}, synchronous={lite['synchronous']} (the library's defaults, "
        f"durable: each commit syncs the WAL), for the events of ours and the baselines alike; "
        f"our views' file (rows derived from the events, re-applied after a machine crash) "
        f"commits with synchronous=NORMAL.",
        *(STORE_LINES if "store" in groups else []),
        *(http_lines(env) if groups & {"http_turns", "guards"} else []),
        *(GUARDS_LINES if "guards" in groups else []),
        *(DURABLE_LINES if "durable" in groups else []),
        *(WORKERS_LINES if "workers" in groups else []),
        f"Python {env['python']}, eventsourcing {pkgs['eventsourcing']}, psycopg "
        f"{pkgs['psycopg']} ({env['psycopg_impl']}), fastapi {pkgs['fastapi']}, uvicorn "
        f"{pkgs['uvicorn']}, httpx {pkgs['httpx']}; {env['cpus']} CPU ({env['cpu_model']}); "
        f"git {env['git_commit'][:12] or '?'}{' + local changes' if env['git_dirty'] else ''}; "
        f"{'QUICK sizes' if env['quick'] else 'full sizes'}.",
        *foreign_load(env),
    ]


DURABLE_LINES: Final = (
    "Rows on 'PostgreSQL, fsync on' ran on a second cluster with production settings "
    "(fsync=on, synchronous_commit=on, full_page_writes=on) on this machine's disk; their "
    "baselines ran on that same cluster.",
)
WORKERS_LINES: Final = (
    "'2 workers': two uvicorn processes sharing one port (--workers 2), as a 2-vCPU instance "
    "runs them; the client and PostgreSQL share the same 2 cores.",
)
STORE_LINES: Final = [
    "store: ours = Sessions as the service builds it (store_env defaults: aggregate cache, "
    "snapshot every 100, further apart past 2,000 events). Baselines: raw INSERT+COMMIT = "
    "psycopg (SQLite: stdlib sqlite3, own WAL "
    "file), one row per transaction, payload = the stored bytes of one TurnSubmitted event, into "
    "a scratch table shaped like the event table (bigserial + primary key); raw SELECT = "
    "fetchall of the stream's rows on a new connection (gaia_events / stored_events).",
]


GUARDS_LINES: Final = [
    "guards: ours = the service with the quotas on (limits the load never reaches: every turn "
    "is checked, none refused) and GAIA_MAX_BODY_BYTES=1 MiB; baseline = the same service with "
    "GAIA_QUOTAS_ENABLED=false and a 1 GiB body cap; both measured as http_turns, alternately.",
]


def http_lines(env: dict[str, Any]) -> list[str]:
    sizes = env["sizes"]
    warm_when = (
        "at each level" if sizes.get("http_warm_each_level", True) else "before the first level"
    )
    return [
        "http_turns: baseline bare FastAPI + 1 INSERT = one sync POST route, same path and body, "
        "no auth, one INSERT per request (psycopg_pool of 5, autocommit; SQLite: one sqlite3 "
        "connection, WAL, writes under a lock as the library does).",
        f"HTTP: create_app() with the demo narrator (instant), new sessions per repetition, "
        f"{sizes['http_seconds']:g} s of load per repetition after "
        f"{sizes['http_warmup_seconds']:g} s of warm-up "
        f"({warm_when}); CPU srv/cli = server process and "
        f"client process CPU over the repetition, as a share of one core (2 vCPU in total, "
        f"shared with PostgreSQL).",
        f"HTTP: each server runs in a subprocess of its own "
        f"({env['http_servers'].split('(')[1].rstrip(')')}, {env['uvicorn_loop_http']}); the "
        f"client is {env['http_client']}, so client and server do not share a GIL.",
    ]


def foreign_load(env: dict[str, Any]) -> list[str]:
    """The footer line on what else ran on the machine, with a warning when it was a lot."""
    load = env.get("foreign_cpu")
    if not load:
        return []
    groups = ", ".join(f"{name} {share:.0%}" for name, share in load["by_group"].items())
    text = (
        f"Other processes on the machine (not the bench, its servers or its PostgreSQL) used "
        f"{load['whole_run']:.0%} of one core on average during the run ({groups}; peak "
        f"{load['peak']:.0%})."
    )
    if max([load["whole_run"], *load["by_group"].values()]) > BUSY_SHARE:
        text += " WARNING: the machine was shared; treat these figures as disturbed."
    return [text]


def _finite(value: Any) -> Any:
    """``value`` with every NaN replaced by None, so that the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write(
    rows: list[Row], env: dict[str, Any], *, name: str, started: datetime, kept: list[Path]
) -> Path:
    """Write ``var/bench/<name>-<UTC timestamp>.json`` and ``latest.json``; keep the files in
    ``kept`` beside them. Returns the path of the timestamped file."""
    out = REPO / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    target = out / f"{name}-{stamp}.json"
    logs = []
    if kept:
        log_dir = out / f"{name}-{stamp}-logs"
        log_dir.mkdir(exist_ok=True)
        for path in kept:
            if path.exists():
                shutil.copy2(path, log_dir / path.name)
                logs.append(str((log_dir / path.name).relative_to(REPO)))
    document = {
        "name": name,
        "started_at": started.isoformat(),
        "environment": env,
        "rows": [row.as_json() for row in rows],
        "kept_logs": logs,
    }
    text = json.dumps(_finite(document), indent=2, default=str, allow_nan=False) + "\n"
    target.write_text(text)
    (out / "latest.json").write_text(text)
    return target
