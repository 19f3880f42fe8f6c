"""The application factory: ``create_app(settings)`` gives the HTTP app its middleware and routes,
and runs the service that ``api.composition`` builds for the app's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig

from api import composition, errors, operations, pages, player
from api.bodylimit import BodyLimit
from api.routes import campaign as campaign_routes
from api.routes import media as media_routes
from api.routes import sessions as session_routes
from api.routes import sharing, stream, system, timeline, turns
from api.settings import Settings
from api.state import AppState
from domain.adapters.config import is_postgres

log = logging.getLogger(__name__)

# FastAPI's OpenTelemetry hooks, all off (see create_app).
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
# Every area's routes; each module is one area (see api/routes/__init__.py).
ROUTERS = (
    system.router,
    session_routes.router,
    turns.router,
    campaign_routes.router,
    sharing.router,
    timeline.router,
    stream.router,
    media_routes.router,
    pages.router,
    player.router,
)

DESCRIPTION = """Event-sourced campaign sessions for Gaia, the AI game master.

Errors are `{"error": {"code", "message", "details"}}`. Authenticate with
`Authorization: Bearer <token>`; in the embedded mode `POST /api/auth/guest` issues one.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; nothing is created at import time and nothing runs before start-up."""
    settings = settings or Settings()
    cors_origins = settings.cors_origin_list

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with composition.started(settings) as state:  # everything is built there
            app.state.gaia = state
            log.info(
                "serving", extra={"store": "postgresql" if settings.database_url else "sqlite"}
            )
            yield

    app = FastAPI(
        title="Gaia campaign backend",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # /docs comes from installed files (api/pages.py), not FastAPI's CDN-loading page.
        docs_url=None,
        redoc_url=None,
        # Metrics are Prometheus's (api/metrics.py) and logs our own (api/observability.py).
        # FastAPI's OpenTelemetry hooks, never configured here, would otherwise look up three
        # global providers on every request.
        telemetry=NO_TELEMETRY,
    )
    errors.install(app, postgres=is_postgres(settings.database_url))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # inside the log context
    operations.install(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        )
    for router in ROUTERS:
        app.include_router(router)
    return app


def app_state(app: Any) -> AppState:
    state: AppState = app.state.gaia
    return state
