"""Live delivery: latency from a write to its receipt by every connected SSE client, and memory
per open stream, for the service beside a bare sse-starlette broadcast measured in the same run.

- ours: ``python -m api serve``; the writer renames a session over HTTP (``PATCH``), which
  appends ``SessionRenamed``; every client streams ``GET /api/sessions/{sid}/events``.
- baseline: ``python -m bench.live --serve-baseline PORT``, a bare FastAPI app with one
  ``asyncio.Queue`` per client, ``POST /publish`` putting the same payload (a real
  ``SessionRenamed`` record) in every queue, and ``EventSourceResponse`` streams. No store,
  no auth, no replay: what any fan-out costs at the least.

Latency runs from just before the writer sends its request to the moment a client has read
the message's ``id:`` line off its socket; it includes the write's own HTTP round trip (given
in the details as ``write_ms``, for ours: an authenticated, committed append). Clients are raw
asyncio sockets in this process (one per stream, reading lines only), the server a process of
its own; both share the machine's CPUs with the store. Events are sent one at a time: each
after every client got the previous one. Memory per stream is the server's RSS growth while
the clients connect, divided by their number.

``run(quick)`` returns rows shaped like ``bench.core.Row``; ``group(ctx)`` is the adapter to
register in ``bench.GROUPS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
from fastapi import FastAPI, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from bench.core import percentile, stop

if TYPE_CHECKING:
    from bench.core import Context, Row

GROUP: Final = "live"
SECRET: Final = "bench-live-secret-" + "x" * 32  # a throwaway local-mode key
OWNER: Final = "bench-live-owner"
BASELINE: Final = "bare sse-starlette broadcast"
REPO: Final = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    clients: tuple[int, ...]
    events: int  # per repetition
    reps: int


FULL: Final = Sizes(clients=(200, 1000), events=40, reps=3)
QUICK: Final = Sizes(clients=(20, 100), events=10, reps=1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- the clients --------------------------------------------------------------------------


@dataclass
class Fleet:
    """Many raw SSE connections; records when each received each id."""

    size: int
    receipts: dict[int, list[int]] = field(default_factory=dict)  # id -> monotonic ns
    _waiting: dict[int, asyncio.Event] = field(default_factory=dict)
    connected: int = 0
    _all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def expect(self, event_id: int) -> asyncio.Event:
        self.receipts[event_id] = []
        return self._waiting.setdefault(event_id, asyncio.Event())

    def _received(self, event_id: int, at_ns: int) -> None:
        got = self.receipts.get(event_id)
        if got is None:
            return
        got.append(at_ns)
        if len(got) == self.size:
            self._waiting[event_id].set()

    async def connect(self, port: int, path: str, headers: dict[str, str]) -> None:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        request += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(request.encode())
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {status!r}")
        self.connected += 1
        if self.connected == self.size:
            self._all_connected.set()
        # Held here: the loop keeps only weak references to tasks, and a stream reader only a
        # weak one from its socket, so an unreferenced reading task can vanish mid-stream.
        self._tasks.add(asyncio.create_task(self._read(reader, writer)))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        try:
            while data := await reader.read(65536):
                now = time.monotonic_ns()
                *lines, buffer = (buffer + data).split(b"\r\n")
                for line in lines:
                    if line.startswith(b"id: "):
                        self._received(int(line[4:]), now)
        finally:
            writer.close()

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._all_connected.wait(), timeout)


# -- the servers --------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """True when process ``pid`` holds a listening TCP socket on ``port`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
            return True
    return False


@asynccontextmanager
async def server(kind: str, env: dict[str, str], log: Path) -> AsyncIterator[Server]:
    port = _free_port()
    command = (
        [sys.executable, "-m", "api", "serve"]
        if kind == "ours"
        else [sys.executable, "-m", "bench.live", "--serve-baseline", str(port)]
    )
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command,
            cwd=REPO,
            env=os.environ | env | {"PORT": str(port), "HOST": "127.0.0.1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Server(kind, process, port)
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=2) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    healthy = (await client.get("/healthz")).status_code == 200  # noqa: PLR2004
                except httpx.HTTPError:
                    healthy = False
                # Another process may hold the port (free ports race on a busy machine).
                if healthy and _listens(process.pid, port):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start; see {log}")
                await asyncio.sleep(0.05)
        yield running
    finally:
        stop(process)


# -- one measurement ----------------------------------------------------------------------


@dataclass
class Result:
    latencies_ms: list[list[float]]  # per repetition
    write_ms: list[float]
    rss_per_stream_kib: float
    delivered: int
    expected: int


class Target:
    """How to open streams on a server and make it publish one event."""

    def __init__(self, running: Server, http: httpx.AsyncClient, headers: dict[str, str]):
        self.server, self.http, self.headers = running, http, headers
        self.path = "/events"
        self.next_id = 1
        self._session: str | None = None

    async def prepare(self, payload: str) -> None:
        self.payload = payload
        if self.server.kind == "ours":
            created = await self.http.post("/api/campaigns/new", json={"title": "bench"})
            self._session = created.json()["session_id"]
            self.path = f"/api/sessions/{self._session}/events?after=1"
            self.next_id = 2

    async def publish(self) -> int:
        event_id = self.next_id
        self.next_id += 1
        if self._session is not None:
            answer = await self.http.patch(
                f"/api/sessions/{self._session}", json={"title": f"rename {event_id}"}
            )
        else:
            answer = await self.http.post("/publish", content=self.payload)
        answer.raise_for_status()
        return event_id


async def measure(running: Server, clients: int, sizes: Sizes, payload: str) -> Result:
    headers = {"Authorization": f"Bearer {_token()}"} if running.kind == "ours" else {}
    fleet = Fleet(clients)
    async with httpx.AsyncClient(base_url=running.base_url, headers=headers, timeout=30) as http:
        target = Target(running, http, headers)
        await target.prepare(payload)
        try:
            before = rss_kib(running.process.pid)
            for start in range(0, clients, 50):  # in waves, within the listen backlog
                wave = range(start, min(start + 50, clients))
                await asyncio.gather(
                    *(fleet.connect(running.port, target.path, headers) for _ in wave)
                )
            await fleet.wait_connected(60)
            # A first event that every stream gets: they are all live after it.
            warm = fleet.expect(target.next_id)
            await target.publish()
            await asyncio.wait_for(warm.wait(), 30)
            per_stream = (rss_kib(running.process.pid) - before) / clients
            result = Result([], [], per_stream, 0, 0)
            for _ in range(sizes.reps):
                result.latencies_ms.append(await _publish_all(target, fleet, sizes, result))
        finally:
            await fleet.close()
    return result


async def _publish_all(target: Target, fleet: Fleet, sizes: Sizes, result: Result) -> list[float]:
    """One repetition: each event after every client got the previous one (or 10 s passed)."""
    latencies: list[float] = []
    for _ in range(sizes.events):
        done = fleet.expect(target.next_id)
        sent = time.monotonic_ns()
        event_id = await target.publish()
        result.write_ms.append((time.monotonic_ns() - sent) / 1e6)
        with suppress(TimeoutError):  # counted as undelivered
            await asyncio.wait_for(done.wait(), 10)
        got = fleet.receipts[event_id]
        result.expected += fleet.size
        result.delivered += len(got)
        latencies += [(at - sent) / 1e6 for at in got]
    return latencies


def _token() -> str:
    from api.auth import LocalAuthenticator  # noqa: PLC0415 - the baseline process needs none

    return LocalAuthenticator(SECRET).issue(OWNER, OWNER)


def _payload() -> str:
    """A SessionRenamed record, as the service sends it, for the baseline to broadcast."""
    return json.dumps(
        {
            "version": 2,
            "type": "SessionRenamed",
            "recorded_at": "2026-01-01T00:00:00.000000+00:00",
            "occurred_at": "2026-01-01T00:00:00.000000+00:00",
            "actor": OWNER,
            "data": {"title": "rename 2"},
        },
        separators=(",", ":"),
    )


def _rows(store: str, clients: int, ours: Result, base: Result) -> list[dict[str, Any]]:
    note = f"{clients} clients, one process; delivered {ours.delivered}/{ours.expected}"
    details = {
        "clients": clients,
        "write_ms_p50": statistics.median(ours.write_ms),
        "baseline_publish_ms_p50": statistics.median(base.write_ms),
        "baseline_delivered": f"{base.delivered}/{base.expected}",
    }
    rows = []
    for name, pct in (("p50", 50), ("p99", 99)):
        rows.append(
            {
                "group": GROUP,
                "measure": f"delivery {name}, {clients} clients",
                "store": store,
                "unit": "ms",
                "higher_is_better": False,
                "runs": [percentile(rep, pct) for rep in ours.latencies_ms],
                "baseline": BASELINE,
                "baseline_runs": [percentile(rep, pct) for rep in base.latencies_ms],
                "note": note,
                "details": details,
            }
        )
    rows.append(
        {
            "group": GROUP,
            "measure": f"memory per open stream, {clients} clients",
            "store": store,
            "unit": "KiB",
            "higher_is_better": False,
            "runs": [ours.rss_per_stream_kib],
            "baseline": BASELINE,
            "baseline_runs": [base.rss_per_stream_kib],
            "note": "server RSS growth while the clients connected, per client",
            "details": details,
        }
    )
    return rows


async def _run(quick: bool, database_url: str | None, scratch: Path) -> list[dict[str, Any]]:
    sizes = QUICK if quick else FULL
    store = "PostgreSQL" if database_url else "SQLite"
    env = {
        "GAIA_DATA_DIR": str(scratch / "data"),
        "GAIA_DATABASE_URL": database_url or "",
        "GAIA_JWT_SECRET": SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
        # Every stream is one reader's: the per-user cap (20) would refuse all but the first
        # few; the per-instance cap stays as the service sets it.
        "GAIA_STREAMS_PER_USER": "100000",
    }
    payload = _payload()
    rows: list[dict[str, Any]] = []
    for clients in sizes.clients:
        results = {}
        for kind in ("ours", "baseline"):
            print(f"bench: {GROUP}: {kind}, {clients} clients ({store})", file=sys.stderr)
            async with server(kind, env, scratch / f"{kind}-{clients}.log") as running:
                results[kind] = await measure(running, clients, sizes, payload)
        rows += _rows(store, clients, results["ours"], results["baseline"])
    return rows


def run(quick: bool, database_url: str | None = None) -> list[dict[str, Any]]:
    """Measure at each client count; PostgreSQL when ``database_url`` is given, else SQLite."""
    scratch = Path(tempfile.mkdtemp(prefix="gaia-bench-live."))
    try:
        return asyncio.run(_run(quick, database_url, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def group(ctx: Context) -> list[Row]:
    """The ``bench.GROUPS`` entry: these rows on a fresh PostgreSQL database of the run."""
    from bench.core import Row  # noqa: PLC0415

    return [Row(**row) for row in run(ctx.quick, database_url=ctx.postgres_database(GROUP))]


# -- the baseline server ------------------------------------------------------------------


def baseline_app() -> FastAPI:
    """One queue per stream; ``POST /publish`` puts the body in all of them."""
    app = FastAPI()
    queues: set[asyncio.Queue[tuple[int, str]]] = set()
    counter = {"id": 0}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/events")
    async def events() -> EventSourceResponse:
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        queues.add(queue)

        async def messages() -> AsyncIterator[ServerSentEvent]:
            try:
                while True:
                    event_id, data = await queue.get()
                    yield ServerSentEvent(data, event="SessionRenamed", id=str(event_id))
            finally:
                queues.discard(queue)

        return EventSourceResponse(messages(), ping=15)

    @app.post("/publish")
    async def publish(request: Request) -> dict[str, int]:
        counter["id"] += 1
        data = (await request.body()).decode()
        for queue in queues:
            queue.put_nowait((counter["id"], data))
        return {"id": counter["id"]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.serve_baseline:
        import uvicorn  # noqa: PLC0415

        uvicorn.run(baseline_app(), host="127.0.0.1", port=args.serve_baseline, log_level="warning")
        return
    for row in run(args.quick, args.database_url or os.environ.get("GAIA_TEST_DATABASE_URL")):
        ours, base = statistics.median(row["runs"]), statistics.median(row["baseline_runs"])
        print(f"{row['measure']:<40} {row['store']:<10} {ours:>9.2f} {base:>9.2f} {row['unit']}")


if __name__ == "__main__":
    main()
