"""Shared pieces of the benchmarks: sizes, result rows, statistics, stores and the run context.

A group is a function ``run(ctx: Context) -> list[Row]``. It measures our code and its baseline
in the same run, on every store the context hands out, and returns one row per figure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
from psycopg import sql

from domain.session import CampaignSession

REPS: Final = 3
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
OWNER: Final = "bench-owner"
# Local-mode token secret shared by the benchmark client and the service it starts.
JWT_SECRET: Final = "bench-secret-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"  # noqa: S105 - throwaway
TURN_TEXT: Final = (
    "I raise the lantern, step into the flooded crypt with my sword drawn, and listen "
    "for whatever moved down there (turn {n})."
)

StoreKind = Literal["sqlite", "postgres"]


def turn_text(n: int) -> str:
    """The text of the n-th benchmark turn: realistic length, unique per turn."""
    return TURN_TEXT.format(n=n)


def submit_turn(session: CampaignSession, n: int, at: datetime | None = None) -> None:
    """The n-th benchmark turn, straight on the aggregate (fixtures saved in batches)."""
    session.submit_turn(
        actor=OWNER,
        turn_id=uuid4(),
        text=turn_text(n),
        kind="action",
        character=None,
        idempotency_key=None,
        at=at or datetime.now(UTC),
    )


@dataclass(frozen=True)
class Sizes:
    """How much each group does; ``QUICK`` is for smoke runs, ``FULL`` for figures."""

    appends: int  # single-turn commands on one session, per repetition
    rebuild_events: int  # events in the stream that is rebuilt
    http_seconds: float  # load duration of one HTTP repetition
    http_warmup_seconds: float  # untimed load before the repetitions of one level
    http_warm_each_level: bool  # else a server is warmed up before its first level only
    concurrency: tuple[int, ...]  # concurrent sessions (one client coroutine each)
    http_reps: int  # timed repetitions per server and level (a smoke run needs one)
    start_reps: int  # repetitions of a figure that starts the service for each (seconds apiece)


FULL: Final = Sizes(
    appends=2000,
    rebuild_events=10_000,
    http_seconds=1.5,
    http_warmup_seconds=0.3,
    http_warm_each_level=True,
    concurrency=(1, 10, 50),
    http_reps=REPS,
    start_reps=REPS,
)
QUICK: Final = Sizes(
    appends=300,
    rebuild_events=2000,
    http_seconds=0.5,
    http_warmup_seconds=0.2,
    http_warm_each_level=False,
    concurrency=(1, 50),  # the two levels the goals name; 10 only in a full run
    http_reps=1,
    start_reps=1,
)


@dataclass(frozen=True)
class Store:
    """One store to measure: an empty PostgreSQL database, or a fresh SQLite data dir."""

    kind: StoreKind
    database_url: str | None  # None for SQLite
    data_dir: Path

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.kind == "postgres" else "SQLite"


@dataclass
class Row:
    """One figure of ours beside the baseline measured in the same run."""

    group: str
    measure: str
    store: str
    unit: str
    higher_is_better: bool
    runs: list[float]
    baseline: str
    baseline_runs: list[float]
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return median(self.runs)

    @property
    def baseline_value(self) -> float:
        return median(self.baseline_runs)

    @property
    def ratio(self) -> float:
        """Ours divided by the baseline (see ``higher_is_better`` for the direction)."""
        base = self.baseline_value
        return self.value / base if base else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "measure": self.measure,
            "store": self.store,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "value": self.value,
            "runs": self.runs,
            "baseline": self.baseline,
            "baseline_value": self.baseline_value,
            "baseline_runs": self.baseline_runs,
            "ratio": self.ratio,
            "note": self.note,
            "details": self.details,
        }


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values (a measurement that could not run)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """End a server process: SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout holds only the table."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def with_database(server_url: str, dbname: str) -> str:
    """``server_url`` pointing at database ``dbname`` instead of its own."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + dbname))


class Context:
    """What a group may use: sizes, fresh stores, and scratch space, all cleaned up by close()."""

    def __init__(self, *, server_url: str, quick: bool) -> None:
        self.server_url = server_url
        self.quick = quick
        self.sizes = QUICK if quick else FULL
        self.scratch = Path(tempfile.mkdtemp(prefix="gaia-bench."))
        self._prefix = f"gaia_bench_{secrets.token_hex(4)}"
        self._databases: list[str] = []
        self.kept: list[Path] = []  # files to keep with the results (server logs)
        self.postmaster = postmaster_pid(server_url)
        roots = {os.getpid()} | ({self.postmaster} if self.postmaster else set())
        self.foreign = ForeignLoad(roots)

    def postgres_database(self, label: str) -> str:
        """Create an empty database for ``label`` and return its URL; dropped by close()."""
        name = f"{self._prefix}_{label}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._databases.append(name)
        return with_database(self.server_url, name)

    def sqlite_dir(self, label: str) -> Path:
        """A fresh, empty data dir for ``label`` under the scratch dir."""
        path = self.scratch / label
        path.mkdir(parents=True)
        return path

    def stores(self, label: str) -> list[Store]:
        """Fresh PostgreSQL and SQLite stores for one benchmark."""
        return [
            Store("postgres", self.postgres_database(label), self.sqlite_dir(f"{label}-pg")),
            Store("sqlite", None, self.sqlite_dir(f"{label}-sqlite")),
        ]

    def keep(self, path: Path) -> None:
        """Keep ``path`` (under the scratch dir) with the results of this run."""
        self.kept.append(path)

    def close(self) -> None:
        """Drop the databases this run created and delete the scratch dir."""
        self.foreign.stop()
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self._databases:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._databases.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _stat(pid: int | str) -> tuple[int, int]:
    """(parent pid, CPU ticks used so far) of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, ppid field 4, utime 14 and stime 15 (1-based).
    return int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) used so far by process ``pid``."""
    return _stat(pid)[1] / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid`` and its live descendants (a server started with
    several worker processes); the CPU of descendants that have exited is counted in ``pid``
    only once they are waited for, as the kernel does."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid, used = _stat(entry)
                children.setdefault(ppid, []).append(int(entry))
                ticks[int(entry)] = used
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += ticks.get(current, 0)
        stack.extend(children.get(current, []))
    return total / CLOCK_TICKS


class ForeignLoad:
    """Samples, in a thread, the CPU used by processes that are not part of the benchmark.

    Ours are this process, the PostgreSQL cluster it uses (its postmaster and children) and
    all their descendants; everything else on the machine is foreign and disturbs the figures.
    """

    INTERVAL_S: Final = 0.5

    def __init__(self, own_roots: set[int]) -> None:
        self._roots = own_roots
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._marks: dict[str, tuple[float, float]] = {}  # label -> (foreign ticks, time)
        self._ticks = 0.0  # foreign CPU ticks accumulated since start
        self._peak = 0.0  # highest share of one core in one interval
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="foreign-load", daemon=True)
        self._thread.start()

    def _snapshot(self) -> dict[int, tuple[int, int]]:
        processes: dict[int, tuple[int, int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    processes[int(entry)] = _stat(entry)
        return processes

    def _foreign(self, processes: dict[int, tuple[int, int]]) -> set[int]:
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in processes.items():
            children.setdefault(ppid, []).append(pid)
        with self._lock:
            roots = self._roots
        own, stack = set(), [root for root in roots if root in processes]
        while stack:
            pid = stack.pop()
            own.add(pid)
            stack.extend(children.get(pid, []))
        return set(processes) - own

    def _run(self) -> None:
        before, since = self._snapshot(), time.monotonic()
        while not self._stop.wait(self.INTERVAL_S):
            now, at = self._snapshot(), time.monotonic()
            foreign = self._foreign(now)
            ticks = sum(
                now[pid][1] - before.get(pid, (0, now[pid][1]))[1]  # new ones count from now
                for pid in foreign
            )
            with self._lock:
                self._ticks += ticks
                self._peak = max(self._peak, ticks / CLOCK_TICKS / (at - since))
            before, since = now, at

    def adopt(self, pid: int) -> None:
        """Count process ``pid`` and its descendants as the benchmark's own from now on (a
        second PostgreSQL cluster that a group starts)."""
        with self._lock:
            self._roots = self._roots | {pid}

    def mark(self, label: str) -> None:
        """Start a span called ``label`` (ended by ``share(label)``)."""
        with self._lock:
            self._marks[label] = (self._ticks, time.monotonic())

    def share(self, label: str | None = None) -> float:
        """Average foreign CPU, as a share of one core, since ``mark(label)`` (or the start)."""
        with self._lock:
            ticks, since = (
                self._marks.get(label, (0.0, self._started)) if label else (0.0, self._started)
            )
            elapsed = time.monotonic() - since
            return (self._ticks - ticks) / CLOCK_TICKS / elapsed if elapsed > 0 else 0.0

    @property
    def peak(self) -> float:
        with self._lock:
            return self._peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def postmaster_pid(server_url: str) -> int | None:
    """The PID of the PostgreSQL server's postmaster, if it runs on this machine."""
    try:
        with psycopg.connect(server_url) as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        if row is None:
            return None
        return int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0])
    except (psycopg.Error, OSError, ValueError, IndexError):
        return None
