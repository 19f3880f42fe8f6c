"""The running service's upkeep: the request middleware (log context, store gate), the pruning
of idle per-session views every ``GAIA_PRUNE_INTERVAL_SECONDS``, and the gauges refreshed before
a scrape. ``api.composition`` builds ``Operations`` and starts and stops it with the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from api.circuit import StoreGate
from api.live.response import StreamHandoff
from api.metrics import Metrics
from api.observability import RequestContext
from api.ratelimit import Rates
from api.state import AppState
from domain.errors import StoreUnavailable
from projections.session_views import SessionViews

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """The middleware: the request's log context outermost, then the hand-off of event streams
    (served after every layer inside it has returned), then the store gate."""
    app.add_middleware(StoreGate)
    app.add_middleware(StreamHandoff)
    app.add_middleware(RequestContext)  # added last = runs first


class Operations:
    """Prunes idle views and ended quota windows in the background."""

    def __init__(
        self, *, views: SessionViews, rates: Rates, metrics: Metrics, prune_interval_s: float
    ) -> None:
        self.views = views
        self.rates = rates
        self.metrics = metrics
        self.prune_interval_s = prune_interval_s
        self._pruner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pruner = asyncio.create_task(self._prune_forever(), name="prune-idle-views")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner

    def prune(self) -> int:
        """Drop the per-session views idle past GAIA_SESSION_IDLE_TTL_MINUTES, and the quota
        counts of ended windows; returns how many views went."""
        self.rates.sweep()
        views = self.views
        dropped = views.prune()
        self.metrics.views_pruned.inc(dropped)
        self.metrics.views_cached.set(len(views))
        if dropped:
            log.info("dropped %d idle session views; %d remain", dropped, len(views))
        return dropped

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self.prune_interval_s)
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
