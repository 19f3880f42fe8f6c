"""The application factory: ``create_app(settings)`` builds the store, views, auth, narrator and
turn worker, wires the routes, and starts and stops the background parts with the app."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors, operations, pages, player
from api.auth import Authenticator, LocalAuthenticator, OidcAuthenticator, load_or_create_secret
from api.bodylimit import BodyLimit
from api.keyfiles import export_signer
from api.live import start_live
from api.locks import NarrationLocks
from api.media import build_media
from api.narration import DemoNarrator, Narrator, OpenAICompatNarrator
from api.ratelimit import Rates, StreamSlots
from api.routes import campaign as campaign_routes
from api.routes import media as media_routes
from api.routes import sessions as session_routes
from api.routes import sharing, stream, system, timeline, turns
from api.settings import Settings
from api.state import AppState
from api.worker import TurnWorker
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from projections.database import ViewDatabase
from projections.my_sessions import MySessions, sessions_with_pending_turns
from projections.runner import ProjectionRunner
from projections.session_views import SessionViews

log = logging.getLogger(__name__)

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


def build_narrator(settings: Settings) -> Narrator:
    if not settings.llm_base_url:
        return DemoNarrator()
    return OpenAICompatNarrator(
        settings.llm_base_url,
        settings.llm_api_key,
        settings.llm_model,
        read_timeout=settings.llm_timeout_seconds,
        max_attempts=settings.llm_max_attempts,
    )


def build_auth(settings: Settings) -> tuple[Authenticator, LocalAuthenticator | None]:
    if settings.auth_mode == "oidc":
        issuer, audience = settings.oidc_issuer, settings.oidc_audience
        jwks_url = settings.oidc_jwks_url
        if not (issuer and audience and jwks_url):  # Settings already refuses this
            raise ValueError("oidc mode needs an issuer, an audience and a JWKS URL")
        oidc = OidcAuthenticator(
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
        )
        return oidc, None
    secret = settings.jwt_secret or load_or_create_secret(settings.data_dir)
    local = LocalAuthenticator(secret)
    return local, local


def build_state(settings: Settings) -> AppState:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sessions = open_sessions(
        store_env(settings.database_url, settings.data_dir, name="gaia"),
        snapshot_interval=settings.snapshot_interval,
    )
    views = SessionViews(sessions, idle_ttl_s=settings.session_idle_ttl_minutes * 60)
    view_database = ViewDatabase(settings.database_url, settings.data_dir)
    my_sessions = ProjectionRunner(sessions, view_database, MySessions())
    sessions.on_saved.append(lambda _sid, _version, position: my_sessions.wake(position))

    caught_up = threading.Event()

    def pending_sessions() -> list[str]:
        # After a restart the view may trail the store: let it catch up once before trusting
        # it; later sweeps run on a view at most one poll behind, and the next sweep follows.
        if not caught_up.is_set():
            my_sessions.wait_for(sessions.max_position(), timeout=10)
            caught_up.set()
        with view_database.transaction() as cur:
            return sessions_with_pending_turns(cur)

    authenticator, local_auth = build_auth(settings)
    worker = TurnWorker(
        sessions,
        views,
        build_narrator(settings),
        NarrationLocks(settings.database_url),
        pending_sessions=pending_sessions,
        sweep_interval_s=settings.resume_sweep_seconds,
        deadline_s=settings.narration_deadline_seconds,
    )
    media = build_media(settings, sessions, view_database, worker)
    return AppState(
        media=media,
        settings=settings,
        sessions=sessions,
        views=views,
        view_database=view_database,
        my_sessions=my_sessions,
        authenticator=authenticator,
        local_auth=local_auth,
        worker=worker,
        rates=Rates(settings),
        stream_slots=StreamSlots(
            settings.streams_per_user, settings.streams_per_instance, settings.quotas_enabled
        ),
        export_signer=export_signer(settings),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; nothing is created at import time and nothing runs before start-up."""
    settings = settings or Settings()
    cors_origins = settings.cors_origin_list

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await to_thread.run_sync(build_state, settings)
        app.state.gaia = state
        upkeep = operations.Operations(state)  # metrics hooks, store circuit, view pruning
        state.my_sessions.start()
        if state.media is not None:  # before the worker: its first narration may want media
            await state.media.start()
        await state.worker.start()
        await upkeep.start()
        state.live = await start_live(state)
        log.info("serving", extra={"store": "postgresql" if settings.database_url else "sqlite"})
        try:
            yield
        finally:
            await upkeep.stop()
            await state.live.stop(state)
            await state.worker.stop()
            if state.media is not None:
                await state.media.aclose()
            await state.worker.narrator.aclose()
            await state.authenticator.aclose()
            state.my_sessions.stop()
            state.worker.locks.close()
            state.view_database.close()
            state.sessions.close()

    app = FastAPI(
        title="Gaia campaign backend",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # /docs comes from installed files (api/pages.py), not FastAPI's CDN-loading page.
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
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
