"""The running service's upkeep, wired around what ``build_state`` made: metrics hooks on the
narrator, the locks and the store; the store circuit (PostgreSQL only); and the pruning of idle
per-session views every ``GAIA_PRUNE_INTERVAL_SECONDS``. Started and stopped by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from api.circuit import StoreCircuit, StoreGate
from api.metrics import MeteredNarrator
from api.observability import RequestContext
from api.state import AppState
from domain.errors import StoreUnavailable

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """The middleware: the request's log context outermost, then the store gate."""
    app.add_middleware(StoreGate)
    app.add_middleware(RequestContext)  # added last = runs first


class Operations:
    def __init__(self, state: AppState) -> None:
        self.state = state
        metrics = state.metrics
        worker = state.worker
        worker.narrator = MeteredNarrator(worker.narrator, metrics)
        worker.locks.on_wait = metrics.observe_lock_wait
        state.sessions.on_saved.append(lambda _sid, _v, _p: metrics.events_appended.inc())
        skipped = metrics.projection_skipped
        for updater in (state.my_sessions, state.media.index if state.media else None):
            if updater is not None:
                skipped.labels(updater.view.name)
                updater.on_skip.append(lambda view: skipped.labels(view).inc())
        if state.settings.database_url:
            state.circuit = StoreCircuit(
                state.settings.database_url,
                on_recovery=[
                    state.sessions.drop_broken_connections,
                    state.view_database.drop_broken_connections,
                    worker.locks.drop_broken_connections,
                    state.my_sessions.wake,  # cut the view's error backoff short
                ],
                on_change=lambda is_open: metrics.store_up.set(0 if is_open else 1),
            )
        self._pruner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.state.circuit is not None:
            await self.state.circuit.start()
        self._pruner = asyncio.create_task(self._prune_forever(), name="prune-idle-views")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        if self.state.circuit is not None:
            await self.state.circuit.stop()

    def prune(self) -> int:
        """Drop the per-session views idle past GAIA_SESSION_IDLE_TTL_MINUTES, and the quota
        counts of ended windows; returns how many views went."""
        self.state.rates.sweep()
        views = self.state.views
        dropped = views.prune()
        self.state.metrics.views_pruned.inc(dropped)
        self.state.metrics.views_cached.set(len(views))
        if dropped:
            log.info("dropped %d idle session views; %d remain", dropped, len(views))
        return dropped

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self.state.settings.prune_interval_seconds)
            try:
                self.prune()
            except Exception:
                log.exception("pruning idle session views failed")


def refresh_gauges(state: AppState) -> None:
    """Bring the store gauges up to date before a scrape (a blocking call)."""
    state.metrics.views_cached.set(len(state.views))
    if state.live is not None:
        state.metrics.set_open_streams(state.live.hub.open_streams())
    if state.circuit is not None and state.circuit.is_open:
        return  # the last known figures stand; gaia_store_up says why
    try:
        head = state.sessions.max_position()
    except StoreUnavailable:
        return
    state.metrics.store_position.set(head)
    state.metrics.projection_lag.set(max(0, head - state.my_sessions.position))
