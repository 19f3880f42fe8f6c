"""What one instance counts, for Prometheus at ``GET /metrics``: turns, narrations (latency and
failures by kind), narration lock waits, open live streams, projection lag, events a view
skipped, events appended.

Each app has a registry of its own, so several apps in one process (the tests) never collide.
"""

from __future__ import annotations

import time
from typing import Final, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from api.narration import (
    DeltaSink,
    ErrorKind,
    Narration,
    NarrationFailed,
    NarrationRequest,
    Narrator,
)

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
NARRATION_BUCKETS: Final = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
LOCK_BUCKETS: Final = (0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30)
NARRATION_OUTCOMES: Final = ("ok", "failed", "cancelled")
# The provider's kinds, then the worker's own: a crash, and the deadline or shutdown.
FAILURE_KINDS: Final = (*get_args(ErrorKind), "internal", "cancelled")


class Metrics:
    """The instruments; ``render()`` gives the Prometheus text exposition."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.turns_submitted = Counter(
            "gaia_turns_submitted", "Turns accepted (202), repeats excluded", registry=registry
        )
        self.narration_seconds = Histogram(
            "gaia_narration_seconds",
            "Time the narrator took for one turn, by outcome (ok, failed, cancelled)",
            ["outcome"],
            buckets=NARRATION_BUCKETS,
            registry=registry,
        )
        self.narration_failures = Counter(
            "gaia_narration_failures",
            "Narrations that failed, by error kind (the provider's, internal, or cancelled)",
            ["kind"],
            registry=registry,
        )
        # Every series from the start, so that a rate over a missing series is never needed.
        for outcome in NARRATION_OUTCOMES:
            self.narration_seconds.labels(outcome)
        for kind in FAILURE_KINDS:
            self.narration_failures.labels(kind)
        self.lock_wait_seconds = Histogram(
            "gaia_narration_lock_wait_seconds",
            "Time spent waiting for a session's cross-instance narration lock",
            buckets=LOCK_BUCKETS,
            registry=registry,
        )
        self.lock_timeouts = Counter(
            "gaia_narration_lock_timeouts",
            "Narration lock waits that gave up (another instance held the lock)",
            registry=registry,
        )
        self.open_streams = Gauge(
            "gaia_open_streams", "Live event streams (SSE) open on this instance", registry=registry
        )
        self.events_appended = Counter(
            "gaia_events_appended",
            "Events appended by this instance (one per committed command, from Sessions.on_saved)",
            registry=registry,
        )
        self.store_position = Gauge(
            "gaia_store_position", "Position of the last stored event", registry=registry
        )
        self.projection_lag = Gauge(
            "gaia_projection_lag_events",
            "Events the my-sessions view trails the store by",
            registry=registry,
        )
        self.store_up = Gauge(
            "gaia_store_up",
            "1 while the store answers, 0 while the circuit is open",
            registry=registry,
        )
        self.store_up.set(1)
        self.projection_skipped = Counter(
            "gaia_projection_events_skipped",
            "Events a checkpointed view could not apply and went past, by view",
            ["view"],
            registry=registry,
        )
        self.views_cached = Gauge(
            "gaia_session_views_cached", "Per-session views held in memory", registry=registry
        )
        self.views_pruned = Counter(
            "gaia_session_views_pruned", "Idle per-session views dropped", registry=registry
        )

    def observe_lock_wait(self, seconds: float, acquired: bool) -> None:
        self.lock_wait_seconds.observe(seconds)
        if not acquired:
            self.lock_timeouts.inc()

    def set_open_streams(self, count: int) -> None:
        self.open_streams.set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MeteredNarrator:
    """A narrator that times each narration and counts its failures by kind."""

    def __init__(self, inner: Narrator, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.name, self.model = inner.name, inner.model

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        started = time.monotonic()
        outcome = "failed"
        try:
            narration = await self.inner.narrate(request, on_delta)
            outcome = "ok"
            return narration
        except NarrationFailed as failure:
            self.metrics.narration_failures.labels(failure.error_kind).inc()
            raise
        except Exception:
            self.metrics.narration_failures.labels("internal").inc()
            raise
        except BaseException:  # the worker's deadline, or shutdown
            outcome = "cancelled"
            self.metrics.narration_failures.labels("cancelled").inc()
            raise
        finally:
            self.metrics.narration_seconds.labels(outcome).observe(time.monotonic() - started)

    async def aclose(self) -> None:
        await self.inner.aclose()
