"""The HTTP servers under load, each run by uvicorn in a process of its own.

``python -m bench.servers gaia|baseline --port P --data-dir D [--database-url URL] [--workers N]``

- ``gaia``: the service itself, ``create_app(Settings(...))`` with the demo narrator (instant and
  deterministic), local-mode auth with the benchmark's JWT secret; with
  ``BENCH_SERVER_NARRATION=off`` in its environment, one that narrates no turn.
- ``baseline``: a bare FastAPI app with the same turn route that does one raw insert per
  request (psycopg with a small psycopg_pool pool on PostgreSQL; stdlib sqlite3 on a WAL file
  otherwise, one connection, writes under a lock), and no auth, no domain, no views, no
  narration.

Both are served the same way: one uvicorn worker (or ``--workers N`` processes sharing the port,
as uvicorn's ``--workers`` runs them on a multi-vCPU instance), default loop and HTTP
implementation, access log off, idle keep-alive connections kept for 120 s. The client runs in
the parent process, so client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal
from uuid import UUID, uuid4

import uvicorn
from fastapi import FastAPI, status
from pydantic import BaseModel, Field

from bench.core import JWT_SECRET
from domain.adapters.locks import DDL_LOCK_KEY
from domain.adapters.pools import Pool, connection_pool

BASELINE_POOL_SIZE: Final = 5  # as the library's default pool size (store_env pool_size)
BASELINE_TABLE: Final = "bench_http_turns"


class TurnBody(BaseModel):
    """The same body the service's turn route accepts (its fields that the client sends)."""

    text: str = Field(min_length=1)
    kind: Literal["action", "context", "ooc"] = "action"


class PostgresTurns:
    """One INSERT per turn through a small connection pool (autocommit: one row, one txn)."""

    def __init__(self, url: str) -> None:
        # No check on checkout, as the service's event store pool (one round trip less per turn).
        self._pool: Pool = connection_pool(
            url,
            min_size=BASELINE_POOL_SIZE,
            max_size=BASELINE_POOL_SIZE,
            timeout=30,
            autocommit=True,
            check=False,
        )
        # Worker processes starting at once would collide in PostgreSQL's catalog on the
        # CREATE (IF NOT EXISTS does not stop that): they take turns, as the service does.
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (position bigserial PRIMARY KEY, "
                "session_id uuid NOT NULL, turn_id uuid NOT NULL, body bytea NOT NULL)"
            )

    def insert(self, session_id: UUID, turn_id: UUID, body: bytes) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"INSERT INTO {BASELINE_TABLE} (session_id, turn_id, body) "  # noqa: S608
                "VALUES (%s, %s, %s) RETURNING position",
                (session_id, turn_id, body),
            ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return int(row[0])

    def close(self) -> None:
        self._pool.close()


class SQLiteTurns:
    """One INSERT + COMMIT per turn on one connection (WAL, default synchronous), writers
    serialised by a lock in the process, as the library serialises its SQLite writers: with a
    connection per thread instead, concurrent writers hit SQLite's lock and sleep in its busy
    handler."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=5, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (position INTEGER PRIMARY KEY, "
            "session_id TEXT NOT NULL, turn_id TEXT NOT NULL, body BLOB NOT NULL)"
        )
        self._conn.commit()

    def insert(self, session_id: UUID, turn_id: UUID, body: bytes) -> int:
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT INTO {BASELINE_TABLE} (session_id, turn_id, body) "  # noqa: S608
                "VALUES (?, ?, ?)",
                (session_id.hex, turn_id.hex, body),
            )
            self._conn.commit()
            return int(cursor.lastrowid or 0)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def baseline_app(database_url: str | None, data_dir: Path) -> FastAPI:
    """The bare app: a health route and the turn route, one raw insert per request."""
    store: PostgresTurns | SQLiteTurns | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal store
        data_dir.mkdir(parents=True, exist_ok=True)
        store = (
            PostgresTurns(database_url)
            if database_url
            else SQLiteTurns(data_dir / "baseline.sqlite3")
        )
        try:
            yield
        finally:
            store.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/sessions/{sid}/turns", status_code=status.HTTP_202_ACCEPTED)
    def submit_turn(sid: UUID, body: TurnBody) -> dict[str, Any]:
        if store is None:
            raise RuntimeError("the store is opened by the lifespan")
        turn_id = uuid4()
        position = store.insert(sid, turn_id, body.text.encode())
        return {"turn_id": str(turn_id), "position": position}

    return app


def gaia_app(database_url: str | None, data_dir: Path) -> FastAPI:
    """The service as ``python -m api serve`` builds it, with the demo narrator; with
    ``BENCH_SERVER_NARRATION=off``, one whose turn worker narrates nothing (what the turn path
    costs without the narration that follows each turn; turns are left waiting)."""
    # Imported here so that the baseline's process loads none of the service.
    from api.app import create_app  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415

    if os.environ.get(ENV_NARRATION) == "off":
        from api.worker import TurnWorker  # noqa: PLC0415

        async def narrate_nothing(_worker: TurnWorker, _session_id: UUID) -> None:
            """A drain that leaves the session's turns waiting."""

        # This process serves this one app: every worker it builds narrates nothing.
        TurnWorker._drain = narrate_nothing  # type: ignore[method-assign,assignment]
    return create_app(Settings(data_dir=data_dir, database_url=database_url, jwt_secret=JWT_SECRET))


# How a worker process, which uvicorn starts by importing ``app_from_env``, learns what to serve.
ENV_KIND: Final = "BENCH_SERVER_KIND"
ENV_DATA_DIR: Final = "BENCH_SERVER_DATA_DIR"
ENV_DATABASE_URL: Final = "BENCH_SERVER_DATABASE_URL"
ENV_NARRATION: Final = "BENCH_SERVER_NARRATION"  # "off": the service narrates no turn


def app_from_env() -> FastAPI:
    """The app named by the ``BENCH_SERVER_*`` variables (the factory of every worker)."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    build = gaia_app if os.environ[ENV_KIND] == "gaia" else baseline_app
    return build(os.environ.get(ENV_DATABASE_URL) or None, Path(os.environ[ENV_DATA_DIR]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("kind", choices=["gaia", "baseline"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ[ENV_KIND] = args.kind
    os.environ[ENV_DATA_DIR] = str(args.data_dir)
    os.environ[ENV_DATABASE_URL] = args.database_url or ""
    # The client sends SIGUSR1 when the server stalls: every thread's stack goes to the log.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    uvicorn.run(
        # With one worker, the app built here; with more, uvicorn's supervisor binds the port
        # and starts that many processes, each building its own app from the factory.
        app_from_env() if args.workers == 1 else "bench.servers:app_from_env",
        factory=args.workers > 1,
        workers=args.workers if args.workers > 1 else None,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        # Idle keep-alive connections stay open between repetitions: with uvicorn's default
        # of 5 s, a client could send on a connection the server was just closing.
        timeout_keep_alive=120,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
