"""Group ``http_turns``: turn submission over HTTP at 1, 10 and 50 concurrent sessions.

The service (``create_app`` with the instant demo narrator) and a bare FastAPI baseline (one raw
insert per request) are both served by uvicorn in subprocesses (``bench.servers``), on
PostgreSQL and on SQLite. This process is the client: one coroutine per session, each with its
own ``httpx.AsyncClient`` (one keep-alive connection) over loopback, submitting turns back to
back for a fixed time.

For every level both servers get a short warm-up, then three repetitions, alternating between
the servers. Each repetition of the service uses new sessions (created before the clock
starts), so the figures are for young sessions; how commands slow down as a session grows is
in the ``store`` group. Between repetitions the client waits until the server process is idle
again: the service narrates every accepted turn in the background, and the time that backlog
takes after the load stops is reported as the narration drain. Latency is per request as the
client sees it, failed requests included (p50 and p99 within one repetition, then the median
over repetitions); throughput counts accepted turns (202) only, and failures are in the note.

A request unanswered after ``REQUEST_TIMEOUT_S`` counts as failed, with that latency. After a
repetition with such timeouts, the idle server must take one more turn in time; if it does not,
it is stuck: it gets a SIGUSR1 (``bench.servers`` then writes every thread's stack to its log),
takes no further load, and its log is kept with the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from uuid import uuid4

import httpx

from api.auth import LocalAuthenticator
from bench.core import (
    JWT_SECRET,
    Context,
    Row,
    cpu_seconds,
    median,
    percentile,
    progress,
    tree_cpu_seconds,
    turn_text,
)

GROUP: Final = "http_turns"
REPO: Final = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT_S: Final = 10.0
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
STALL_GRACE_S: Final = REQUEST_TIMEOUT_S + 5.0  # beyond the duration, for a whole repetition
QUIET_CPU_SHARE: Final = 0.15  # a server using less than this share of one core is idle
QUIET_WINDOW_S: Final = 0.1
QUIET_MAX_S: Final = 30.0
BASELINE: Final = "bare FastAPI + 1 INSERT"
ServerKind = Literal["gaia", "baseline"]
# The database of the server named by its argument: a new PostgreSQL database, or None (SQLite).
DatabaseFor = Callable[[str], str | None]
# The load is a player submitting turns back to back, far past the turn quotas and the cap on
# turns waiting for narration that a real table needs. The quotas stay on, so their checks cost
# what they cost, with limits this load never reaches (it measures capacity, not refusals).
UNREACHED_QUOTAS: Final = {
    "GAIA_QUOTAS_ENABLED": "true",
    "GAIA_SESSIONS_PER_USER_PER_HOUR": "1000000000",
    "GAIA_TURNS_PER_USER_PER_MINUTE": "1000000000",
    "GAIA_TURNS_PER_SESSION_PER_MINUTE": "1000000000",
    "GAIA_PENDING_TURNS_PER_SESSION": "1000000000",
}


class ServerFailed(RuntimeError):
    """A server did not start."""


def new_client(port: int, *, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=REQUEST_TIMEOUT_S,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server subprocess, an HTTP client for it, and whether it stopped answering."""

    kind: ServerKind
    process: subprocess.Popen[bytes]
    client: httpx.AsyncClient
    log_path: Path
    label: str  # its key in the results: the kind, unless two servers of one kind are compared
    stalled_at: int | None = None  # the concurrency at which it got stuck
    session_clients: list[httpx.AsyncClient] = field(default_factory=list)
    workers: int = 1  # uvicorn worker processes sharing the port
    warmed: bool = False  # it has had a warm-up load

    def cpu(self) -> float:
        """CPU seconds the server has used so far, all its worker processes included."""
        pid = self.process.pid
        return cpu_seconds(pid) if self.workers == 1 else tree_cpu_seconds(pid)

    @classmethod
    async def start(
        cls,
        kind: ServerKind,
        database_url: str | None,
        data_dir: Path,
        log_path: Path,
        *,
        label: str | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> Server:
        """Start the server with ``env`` over this process's environment (the service reads its
        settings from it; by default ``UNREACHED_QUOTAS``), in ``workers`` uvicorn processes."""
        port = free_port()
        command = [sys.executable, "-m", "bench.servers", kind, "--port", str(port)]
        command += ["--data-dir", str(data_dir), "--workers", str(workers)]
        if database_url:
            command += ["--database-url", database_url]
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | (UNREACHED_QUOTAS if env is None else env),
            )
        client = new_client(port, connections=8)
        server = cls(kind, process, client, log_path, label or kind, workers=workers)
        client = server.client
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == httpx.codes.OK:
                    return server
            await asyncio.sleep(0.1)
        await server.stop()
        raise ServerFailed(f"the {kind} server did not start:\n{server.log_tail()}")

    def clients(self, count: int) -> list[httpx.AsyncClient]:
        """One client per session, each with one keep-alive connection, reused across levels.

        Not one shared client: httpcore's pool scans all its connections for every request
        (O(connections x queued requests), encode/httpcore#1035), which at 50 connections
        made the client, not the server, the bottleneck.
        """
        port = self.client.base_url.port or 80
        while len(self.session_clients) < count:
            self.session_clients.append(new_client(port, connections=1))
        return self.session_clients[:count]

    @property
    def stalled(self) -> bool:
        return self.stalled_at is not None

    def mark_stalled(self, concurrency: int) -> None:
        """Remember the stall and have the server dump its threads' stacks to its log."""
        if self.stalled_at is None:
            self.stalled_at = concurrency
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGUSR1)

    async def stop(self) -> None:
        for client in [self.client, *self.session_clients]:
            await client.aclose()
        if self.process.poll() is None:
            self.process.terminate()
            # A stalled server's shutdown hangs on its stuck threads: give it less time.
            timeout = STOP_TIMEOUT_S / 3 if self.stalled else STOP_TIMEOUT_S
            try:
                await asyncio.to_thread(self.process.wait, timeout)
            except subprocess.TimeoutExpired:
                progress(f"the {self.label} server ignored SIGTERM for {timeout:.0f} s; killed")
                self.process.kill()
                await asyncio.to_thread(self.process.wait, timeout)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> int:
        """How many tracebacks and ERROR lines the server has logged so far."""
        if not self.log_path.exists():
            return 0
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if line.startswith(("Traceback", "ERROR")))

    async def wait_quiet(self) -> float:
        """Wait until the server process is idle; return how long it stayed busy.

        CPU time comes in clock ticks (10 ms): a 100 ms window is idle with at most one.
        """
        started = busy_until = time.perf_counter()
        while time.perf_counter() - started < QUIET_MAX_S and self.process.poll() is None:
            before = self.cpu()
            await asyncio.sleep(QUIET_WINDOW_S)
            if self.cpu() - before < QUIET_CPU_SHARE * QUIET_WINDOW_S:
                break
            busy_until = time.perf_counter()
        return busy_until - started


@dataclass
class Rep:
    """One repetition of one level against one server."""

    latencies_s: list[float] = field(default_factory=list)  # every request, failed ones too
    accepted: int = 0  # turns answered 202
    errors: Counter[str] = field(default_factory=Counter)  # by status code or exception
    elapsed_s: float = 0.0
    server_cpu: float = 0.0  # share of one core over the repetition
    client_cpu: float = 0.0
    foreign_cpu: float = 0.0  # CPU of processes outside the benchmark, share of one core
    drain_s: float = 0.0
    timed_out: bool = False  # some request went unanswered for REQUEST_TIMEOUT_S

    @property
    def turns_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else float("nan")

    def latency_ms(self, pct: float) -> float:
        return percentile(self.latencies_s, pct) * 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies_s),
            "accepted": self.accepted,
            "errors": dict(self.errors),
            "elapsed_s": self.elapsed_s,
            "turns_per_s": self.turns_per_s,
            "p50_ms": self.latency_ms(50),
            "p99_ms": self.latency_ms(99),
            "max_ms": max(self.latencies_s, default=float("nan")) * 1000,
            "server_cpu": self.server_cpu,
            "client_cpu": self.client_cpu,
            "foreign_cpu": self.foreign_cpu,
            "drain_s": self.drain_s,
            "timed_out": self.timed_out,
        }


@dataclass(frozen=True)
class Target:
    """Where one client coroutine posts its turns, and as whom."""

    path: str
    headers: dict[str, str]


async def new_targets(server: Server, count: int, auth: LocalAuthenticator) -> list[Target]:
    """``count`` sessions, one owner each: real ones on the service, made-up ids otherwise."""

    async def one() -> Target:
        user = f"bench-{uuid4().hex[:12]}"
        headers = {"Authorization": f"Bearer {auth.issue(user, 'Bench player')}"}
        if server.kind == "gaia":
            response = await server.client.post(
                "/api/campaigns/new", json={"title": "Benchmark"}, headers=headers
            )
            response.raise_for_status()
            session_id = response.json()["session_id"]
        else:
            session_id = str(uuid4())
        return Target(f"/api/sessions/{session_id}/turns", headers)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def submit_until(
    client: httpx.AsyncClient, target: Target, deadline: float, rep: Rep
) -> None:
    """Submit turns back to back until ``deadline``; record every request's latency (until
    the answer, or until the client gave up) and count the accepted turns."""
    n = 0
    while time.perf_counter() < deadline:
        body = {"text": turn_text(n), "kind": "action"}
        n += 1
        started = time.perf_counter()
        try:
            response = await client.post(target.path, json=body, headers=target.headers)
        except httpx.HTTPError as error:
            rep.latencies_s.append(time.perf_counter() - started)
            rep.errors[type(error).__name__] += 1
            if isinstance(error, httpx.TimeoutException):
                rep.timed_out = True
            else:
                await asyncio.sleep(0.01)  # a refused connection must not spin
            continue
        rep.latencies_s.append(time.perf_counter() - started)
        if response.status_code == httpx.codes.ACCEPTED:
            rep.accepted += 1
        else:
            rep.errors[str(response.status_code)] += 1


async def load(ctx: Context, server: Server, targets: Sequence[Target], duration_s: float) -> Rep:
    """Run one client per target for ``duration_s``, then wait until the server is idle."""
    rep = Rep()
    # Made before the clock starts: a new client costs milliseconds (its SSL context), and 50
    # made within a quick run's half second left no time to send anything.
    session_clients = server.clients(len(targets))
    ctx.foreign.mark(GROUP + "-rep")
    cpu_server = server.cpu()
    cpu_client = time.process_time()
    started = time.perf_counter()
    deadline = started + duration_s
    clients = [
        submit_until(client, target, deadline, rep)
        for client, target in zip(session_clients, targets, strict=True)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*clients), duration_s + STALL_GRACE_S)
    except TimeoutError:
        rep.timed_out = True
    rep.elapsed_s = time.perf_counter() - started
    if server.process.poll() is None:
        rep.server_cpu = (server.cpu() - cpu_server) / rep.elapsed_s
    rep.client_cpu = (time.process_time() - cpu_client) / rep.elapsed_s
    rep.foreign_cpu = ctx.foreign.share(GROUP + "-rep")
    rep.drain_s = await server.wait_quiet()
    return rep


async def answers(server: Server, auth: LocalAuthenticator) -> bool:
    """Whether the (now idle) server still takes a turn within REQUEST_TIMEOUT_S."""
    try:
        (target,) = await new_targets(server, 1, auth)
        body = {"text": turn_text(0), "kind": "action"}
        response = await server.client.post(target.path, json=body, headers=target.headers)
    except httpx.HTTPError:
        return False
    return response.status_code == httpx.codes.ACCEPTED


async def one_rep(
    ctx: Context,
    server: Server,
    concurrency: int,
    duration_s: float,
    auth: LocalAuthenticator,
) -> Rep | None:
    """New sessions, an idle server, then the load; None once the server is stuck."""
    if server.stalled:
        return None
    try:
        targets = await new_targets(server, concurrency, auth)
    except httpx.HTTPError as error:
        progress(f"the {server.label} server failed to create sessions: {error!r}")
        server.mark_stalled(concurrency)
        return None
    await server.wait_quiet()
    rep = await load(ctx, server, targets, duration_s)
    if rep.timed_out:
        if await answers(server, auth):
            progress(f"the {server.label} server timed out requests at {concurrency} sessions")
        else:
            server.mark_stalled(concurrency)
            progress(f"the {server.label} server is STUCK since {concurrency} sessions")
    return rep


async def level(
    servers: Sequence[Server], concurrency: int, ctx: Context, auth: LocalAuthenticator
) -> dict[str, list[Rep]]:
    """A warm-up (in a quick run only before a server's first level), then ``http_reps``
    repetitions per server, alternating between the servers; the repetitions by server label."""
    sizes = ctx.sizes
    reps: dict[str, list[Rep]] = {server.label: [] for server in servers}
    for server in servers:
        if sizes.http_warm_each_level or not server.warmed:
            await one_rep(ctx, server, concurrency, sizes.http_warmup_seconds, auth)
            server.warmed = True
    for _ in range(sizes.http_reps):
        for server in servers:
            rep = await one_rep(ctx, server, concurrency, sizes.http_seconds, auth)
            if rep is not None:
                reps[server.label].append(rep)
    return reps


def outcome_note(kind: str, runs: list[Rep], stalled_at: int | None) -> str:
    """What went wrong for one server at one level, or nothing."""
    errors: Counter[str] = Counter()
    for rep in runs:
        errors.update(rep.errors)
    parts = []
    if stalled_at is not None:
        parts.append(f"STUCK (no answer in {REQUEST_TIMEOUT_S:g} s, even idle)")
    if errors:
        total = sum(len(rep.latencies_s) for rep in runs)
        kinds = ", ".join(f"{name} x{count}" for name, count in errors.most_common())
        parts.append(f"{sum(errors.values()) / total:.0%} of requests failed ({kinds})")
    return f"{kind}: {'; '.join(parts)}" if parts else ""


@dataclass(frozen=True)
class Comparison:
    """Which two servers a group's rows set side by side, and how the table names them."""

    group: str = GROUP
    ours: str = "gaia"  # server labels
    base: str = "baseline"
    baseline: str = BASELINE
    measure: str = "HTTP turn POST"


def rows_for(
    store: str,
    concurrency: int,
    reps: dict[str, list[Rep]],
    servers: Sequence[Server],
    compared: Comparison = Comparison(),  # frozen: one shared default is safe
) -> list[Row]:
    stalled_at = {server.label: server.stalled_at for server in servers}
    ours, base = reps[compared.ours], reps[compared.base]
    details: dict[str, Any] = {
        "concurrency": concurrency,
        "reps": {label: [rep.as_json() for rep in runs] for label, runs in reps.items()},
        "stuck_at": stalled_at,
        "server_log_problems": {server.label: server.log_problems() for server in servers},
    }
    outcome = "; ".join(
        note
        for note in (
            outcome_note("ours", ours, stalled_at[compared.ours]),
            outcome_note("base", base, stalled_at[compared.base]),
        )
        if note
    )

    def cpu(runs: list[Rep]) -> str:
        if not runs:
            return "-"
        server = median([rep.server_cpu for rep in runs])
        client = median([rep.client_cpu for rep in runs])
        return f"{server:.0%}/{client:.0%}"

    drain = f"narration drain {median([rep.drain_s for rep in ours]):.1f} s" if ours else ""
    label = f"{compared.measure}, {concurrency} session{'s' if concurrency > 1 else ''}"

    def row(what: str, unit: str, higher: bool, figure: str, note: str) -> Row:
        def value(rep: Rep) -> float:
            return rep.turns_per_s if figure == "rate" else rep.latency_ms(float(figure))

        return Row(
            compared.group,
            f"{label}: {what}",
            store,
            unit,
            higher,
            [value(rep) for rep in ours],
            compared.baseline,
            [value(rep) for rep in base],
            note=note,
            details=details,
        )

    return [
        row("p50 latency", "ms", False, "50", outcome),
        row("p99 latency", "ms", False, "99", drain),
        row(
            "accepted turns/s",
            "turns/s",
            True,
            "rate",
            f"CPU srv/cli: ours {cpu(ours)}, base {cpu(base)}",
        ),
    ]


@dataclass(frozen=True)
class Spec:
    """One server to start: its label in the results, what it serves, in how many processes,
    and its environment over this process's (None: ``UNREACHED_QUOTAS``)."""

    label: str
    kind: ServerKind
    workers: int = 1
    env: dict[str, str] | None = None


def no_database(_label: str) -> None:
    """``database_for`` of the SQLite runs: the servers keep their events in their data dir."""
    return None


async def start_all(
    ctx: Context, group: str, store: str, database_for: DatabaseFor, specs: Sequence[Spec]
) -> list[Server]:
    """Start the servers of ``specs`` side by side (each on its own database, or data dir); if
    one fails, the others are stopped and the first failure raised."""

    async def start(spec: Spec) -> Server:
        name = f"{group}_{spec.label}".replace(" ", "_").replace(",", "")
        where = f"{name}-{store}".replace(" ", "_").replace(",", "").lower()
        return await Server.start(
            spec.kind,
            database_for(name),
            ctx.sqlite_dir(where),
            ctx.scratch / f"{where}-server.log",
            label=spec.label,
            env=spec.env,
            workers=spec.workers,
        )

    started = await asyncio.gather(*(start(spec) for spec in specs), return_exceptions=True)
    servers = [server for server in started if isinstance(server, Server)]
    failures = [failure for failure in started if isinstance(failure, BaseException)]
    if failures:
        await stop_all(ctx, store, servers)
        raise failures[0]
    return servers


async def stop_all(ctx: Context, store: str, servers: Sequence[Server]) -> None:
    """Stop ``servers`` side by side; keep the log of any that stalled or logged errors."""
    await asyncio.gather(*(server.stop() for server in servers))
    for server in servers:
        if server.stalled or server.log_problems():
            ctx.keep(server.log_path)
            progress(
                f"the {server.label} server ({store}) logged {server.log_problems()} errors "
                f"or tracebacks{' and its stacks' if server.stalled else ''}; "
                "its log is kept with the results"
            )


def compare(
    ctx: Context,
    *,
    group: str,
    store: str,
    database_for: DatabaseFor,
    specs: Sequence[Spec],
    concurrency: Sequence[int],
    comparisons: Sequence[Comparison],
) -> list[Row]:
    """Start every server of ``specs`` (each on its own database from ``database_for``), load
    them alternately at each level of ``concurrency``, and return the rows of ``comparisons``.

    The turn figures of this group and of its variants (``guards``, ``durable``, ``workers``)
    are all measured and reported this way."""

    async def measure() -> list[Row]:
        auth = LocalAuthenticator(JWT_SECRET)
        servers = await start_all(ctx, group, store, database_for, specs)
        rows: list[Row] = []
        try:
            for sessions in concurrency:
                progress(
                    f"{group}: {sessions} concurrent sessions, {ctx.sizes.http_reps} x "
                    f"{ctx.sizes.http_seconds:g} s per server ({store})"
                )
                reps = await level(servers, sessions, ctx, auth)
                for compared in comparisons:
                    rows += rows_for(store, sessions, reps, servers, compared)
        finally:
            await stop_all(ctx, store, servers)
        return rows

    return asyncio.run(measure())


def both_stores(ctx: Context) -> list[tuple[str, DatabaseFor]]:
    """The stores a turn group compares on, with where each server's events go."""
    return [("PostgreSQL", ctx.postgres_database), ("SQLite", no_database)]


def compare_on_both_stores(
    ctx: Context,
    *,
    group: str,
    specs: Sequence[Spec],
    concurrency: Sequence[int],
    comparisons: Sequence[Comparison],
) -> list[Row]:
    """``compare`` on PostgreSQL, then on SQLite."""
    rows: list[Row] = []
    for store, database_for in both_stores(ctx):
        rows += compare(
            ctx,
            group=group,
            store=store,
            database_for=database_for,
            specs=specs,
            concurrency=concurrency,
            comparisons=comparisons,
        )
    return rows


def run(ctx: Context) -> list[Row]:
    return compare_on_both_stores(
        ctx,
        group=GROUP,
        specs=[Spec("gaia", "gaia"), Spec("baseline", "baseline")],
        concurrency=ctx.sizes.concurrency,
        comparisons=[Comparison()],
    )
