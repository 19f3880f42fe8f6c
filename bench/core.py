"""Shared pieces of the benchmarks: sizes, result rows, statistics, stores and the run context.

A group is a function ``run(ctx: Context) -> list[Row]``. It measures our code and its baseline
in the same run, on every store the context hands out, and returns one row per figure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPS: Final = 3
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


@dataclass(frozen=True)
class Sizes:
    """How much each group does; ``QUICK`` is for smoke runs, ``FULL`` for figures."""

    appends: int  # single-turn commands on one session, per repetition
    rebuild_events: int  # events in the stream that is rebuilt
    http_seconds: float  # load duration of one HTTP repetition
    http_warmup_seconds: float  # untimed load before the repetitions of one level
    concurrency: tuple[int, ...]  # concurrent sessions (one client coroutine each)


FULL: Final = Sizes(
    appends=2000,
    rebuild_events=10_000,
    http_seconds=2.0,
    http_warmup_seconds=0.5,
    concurrency=(1, 10, 50),
)
QUICK: Final = Sizes(
    appends=300,
    rebuild_events=2000,
    http_seconds=0.5,
    http_warmup_seconds=0.2,
    concurrency=(1, 10, 50),
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
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self._databases:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self._databases.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime field 14 and stime field 15 (1-based).
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
