"""The store circuit: once a call has failed for want of PostgreSQL and a probe confirms it is
gone, requests that need the store are answered 503 at once instead of each waiting out the
pool's timeouts (an event stream gets a 200 with a ``retry:`` hint instead, so that a browser's
EventSource reconnects rather than giving up: ``api.errors.store_unavailable``). A probe every
half second notices the return; then the pools drop their dead connections and the views wake
up, so the service recovers without a restart.

    closed --(a store error, and the probe fails)--> open --(a probe succeeds)--> closed

After any store error whose probe succeeds, the pools are checked too: the error may have
come from a connection that died while the database stayed up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import store_unavailable

log = logging.getLogger(__name__)

PROBE_INTERVAL_S: Final = 0.5
PROBE_CONNECT_TIMEOUT_S: Final = 2  # libpq's minimum
# Routes under /api/ that never touch the store stay up while it is down.
STORELESS_PATHS: Final = frozenset({"/api/auth/guest"})


class StoreCircuit:
    def __init__(
        self,
        database_url: str,
        *,
        on_recovery: Sequence[Callable[[], Any]] = (),
        on_change: Callable[[bool], Any] | None = None,
        probe_interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._url = database_url
        self.on_recovery = list(on_recovery)
        self.on_change = on_change  # told True when the circuit opens, False when it closes
        self.probe_interval_s = probe_interval_s
        self.is_open = False
        self._opened_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._suspect: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._suspect = asyncio.Event()
        self._task = asyncio.create_task(self._watch(), name="store-circuit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def suspect(self) -> None:
        """A call failed for want of the database: probe it now. Safe from any thread."""
        if self._loop is not None and self._suspect is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._suspect.set)

    def probe(self) -> bool:
        """True if the database accepts a new connection and answers (a blocking call)."""
        import psycopg  # noqa: PLC0415 - the circuit serves PostgreSQL only, loaded with it

        try:
            with psycopg.connect(
                self._url, connect_timeout=PROBE_CONNECT_TIMEOUT_S, autocommit=True
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    async def _watch(self) -> None:
        if self._suspect is None:
            raise RuntimeError("the circuit has not been started")
        while True:
            await self._suspect.wait()
            self._suspect.clear()
            while not await to_thread.run_sync(self.probe, abandon_on_cancel=True):
                self._set_open(True)
                await asyncio.sleep(self.probe_interval_s)
            await to_thread.run_sync(self._recover, abandon_on_cancel=True)
            self._set_open(False)
            self._suspect.clear()  # errors seen before the recovery are answered by it

    def _set_open(self, is_open: bool) -> None:
        if is_open == self.is_open:
            return
        self.is_open = is_open
        if is_open:
            self._opened_at = time.monotonic()
            log.error("the database is unreachable: answering 503 until it returns")
        else:
            down_s = time.monotonic() - self._opened_at
            log.warning("the database answers again after %.1f s: serving", down_s)
        if self.on_change is not None:
            self.on_change(is_open)

    def _recover(self) -> None:
        for step in self.on_recovery:
            try:
                step()
            except Exception:
                log.exception("a recovery step failed after a store error")


class StoreGate:
    """ASGI middleware: while the circuit is open, 503 at once (a reconnect hint to an event
    stream) for the routes that need the store: everything under /api/ but STORELESS_PATHS.
    Operations routes answer for themselves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/") and path not in STORELESS_PATHS:
                circuit = circuit_of(scope["app"])
                if circuit is not None and circuit.is_open:
                    answer = store_unavailable(
                        scope["method"], path, "the event store is unavailable; try again shortly"
                    )
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def circuit_of(app: Any) -> StoreCircuit | None:
    """The app's circuit, if it has one (PostgreSQL stores only) and has started."""
    state = getattr(app.state, "gaia", None)
    circuit = getattr(state, "circuit", None)
    return circuit if isinstance(circuit, StoreCircuit) else None
