"""The composition root: the one place where the running service's objects are made and connected,
in order, top to bottom; ``create_app`` enters ``started(settings)`` for the app's lifetime.

Where a write goes, from route to row: a route (``api/routes/turns.py``, say) calls one use case of
``Sessions`` (``domain/application/``), which loads the session, runs the command and saves its new
events as rows of the event store (``domain/adapters/``: PostgreSQL, or the SQLite file in the data
dir). Once they are committed, ``Sessions`` tells its ``on_saved`` listeners, all named in ``build``
below: the metrics count the event, the updaters of the checkpointed views (``my_sessions``, the
media index) fold it into their rows in the view database, and the live hub sends it to the
session's open streams. Per-session views (history, members) fold the session's stream when they are
next read. The turn worker, which the route schedules, narrates the turn and writes the narration
through the same use cases, so it travels the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Generic, ParamSpec
from uuid import UUID

from anyio import to_thread

from api.auth import (
    MEDIA_TICKET_AUDIENCE,
    MEDIA_TICKET_TTL_S,
    Authenticator,
    LocalAuthenticator,
    StreamTickets,
    load_or_create_secret,
)
from api.circuit import StoreCircuit
from api.keyfiles import export_signer
from api.live import Live, LiveHub, StoreTail, ticket_secret
from api.locks import NarrationLocks
from api.media import Media, MediaWriter
from api.media.generation import build_generator
from api.media.store import open_store
from api.metrics import MeteredNarrator, Metrics
from api.narration import DemoNarrator, Narrator
from api.operations import Operations
from api.ratelimit import Rates, StreamSlots
from api.settings import Settings
from api.state import AppState
from api.worker import TurnWorker
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from projections.database import ViewDatabase
from projections.history_checkpoints import HistoryCheckpoints
from projections.media_index import MediaIndex
from projections.my_sessions import MySessions, sessions_with_pending_turns
from projections.session_views import SessionViews
from projections.updater import CheckpointedView, ViewUpdater

log = logging.getLogger(__name__)

P = ParamSpec("P")


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[AppState]:
    """The service, built and started; on the way out every part is stopped and closed in the
    reverse order, each one even when an earlier one fails (the exit stack runs every callback,
    then raises the last failure)."""
    async with AsyncExitStack() as stack:
        state, upkeep = await to_thread.run_sync(build, settings, stack)
        state.my_sessions.start()
        stack.callback(state.my_sessions.stop)
        media, live = state.media, state.live
        await media.start()  # before the worker: its first narration may want media
        stack.push_async_callback(media.stop)
        await state.worker.start()
        stack.push_async_callback(state.worker.stop)
        await live.hub.start()
        stack.push_async_callback(live.hub.stop)  # ends every stream with a reconnection hint
        await live.tail.start()
        stack.push_async_callback(live.tail.stop)
        if state.circuit is not None:
            await state.circuit.start()
            stack.push_async_callback(state.circuit.stop)
        await upkeep.start()
        stack.push_async_callback(upkeep.stop)
        yield state


def build(settings: Settings, stack: AsyncExitStack) -> tuple[AppState, Operations]:
    """Make every object, each after its collaborators, and put how to close it on ``stack`` as
    soon as it exists. Blocking (it opens the stores): run it in a worker thread; putting a
    callback on the stack only appends to it."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()

    # The application and its store. Who listens to its writes is built from it (a cycle), so
    # ``saved`` starts empty and is filled below, here and nowhere else.
    saved: LateListeners[[UUID, int, int]] = LateListeners()
    sessions = open_sessions(
        store_env(settings.database_url, settings.data_dir, name="gaia"),
        snapshot_interval=settings.snapshot_interval,
        on_saved=[saved],
    )
    stack.callback(sessions.close)
    saved.add(lambda _sid, _version, _position: metrics.events_appended.inc())

    # Views: per-session ones fold a stream when read; checkpointed ones have an updater that
    # folds every session's events into rows of the view database and wakes on each write.
    view_database = ViewDatabase(settings.database_url, settings.data_dir)
    stack.callback(view_database.close)
    checkpoints = HistoryCheckpoints(view_database)
    stack.callback(checkpoints.close)
    views = SessionViews(
        sessions, idle_ttl_s=settings.session_idle_ttl_minutes * 60, checkpoints=checkpoints
    )
    sessions.on_recorded.append(views.written)
    my_sessions = updater(sessions, view_database, MySessions(), metrics)
    media_index = updater(sessions, view_database, MediaIndex(), metrics)
    saved.add(lambda _sid, _version, position: my_sessions.wake(position))
    saved.add(lambda _sid, _version, position: media_index.wake(position))

    # Live streams: this process's writes reach the hub through ``saved``; other processes'
    # writes through the tail of the store's global log.
    hub = LiveHub(sessions, shutdown_grace_s=settings.stream_shutdown_grace_seconds)
    saved.add(hub.saved)
    tail = StoreTail(
        sessions.recorder,
        hub.wake_many,
        watched=hub.watched,
        database_url=settings.database_url,
        poll_interval_s=settings.stream_poll_seconds,
    )
    hub.on_watched.append(tail.watching)  # the tail LISTENs only while a stream is open
    secret = ticket_secret(settings)
    live = Live(
        hub=hub,
        tail=tail,
        tickets=StreamTickets(secret),
        media_tickets=StreamTickets(
            secret, ttl_s=MEDIA_TICKET_TTL_S, audience=MEDIA_TICKET_AUDIENCE
        ),
    )

    # Media: bytes go to the media store, then a MediaStored event through the writer; the
    # generator (when a provider is configured) writes the same way after each narration.
    media_store = open_store(settings)
    stack.callback(media_store.close)
    writer = MediaWriter(media_store, sessions)
    generator = build_generator(settings, sessions, writer.save)
    media = Media(
        settings=settings,
        writer=writer,
        index=media_index,
        database=view_database,
        generator=generator,
    )

    # Narration: the worker narrates pending turns, streams the pieces to the hub and hands each
    # stored narration to the media generator.
    narrator = MeteredNarrator(build_narrator(settings), metrics)
    stack.push_async_callback(narrator.aclose)
    locks = NarrationLocks(settings.database_url, on_wait=metrics.observe_lock_wait)
    stack.callback(locks.close)
    worker = TurnWorker(
        sessions,
        views,
        narrator,
        locks,
        pending_sessions=PendingSessions(sessions, my_sessions, view_database),
        sweep_interval_s=settings.resume_sweep_seconds,
        deadline_s=settings.narration_deadline_seconds,
        publish_delta=hub.publish_delta,
        wants_deltas=hub.has_listeners,
        on_narrated=generator.schedule if generator is not None else None,
    )

    # Operations: the store circuit (PostgreSQL only) drops broken connections when the store
    # is back; the upkeep prunes idle views.
    circuit = None
    if settings.database_url:
        circuit = StoreCircuit(
            settings.database_url,
            on_recovery=[
                sessions.drop_broken_connections,
                view_database.drop_broken_connections,
                locks.drop_broken_connections,
                my_sessions.wake,  # cut the view's error backoff short
            ],
            on_change=lambda is_open: metrics.store_up.set(0 if is_open else 1),
        )
    rates = Rates(settings)
    upkeep = Operations(
        views=views,
        rates=rates,
        metrics=metrics,
        prune_interval_s=settings.prune_interval_seconds,
    )

    # What requests meet first: who the caller is, and how much they may do.
    authenticator, local_auth = build_auth(settings)
    stack.push_async_callback(authenticator.aclose)
    state = AppState(
        settings=settings,
        sessions=sessions,
        views=views,
        view_database=view_database,
        my_sessions=my_sessions,
        authenticator=authenticator,
        local_auth=local_auth,
        worker=worker,
        export_signer=export_signer(settings),
        rates=rates,
        stream_slots=StreamSlots(
            settings.streams_per_user, settings.streams_per_instance, settings.quotas_enabled
        ),
        metrics=metrics,
        live=live,
        circuit=circuit,
        media=media,
    )
    return state, upkeep


class LateListeners(Generic[P]):
    """Listeners handed to an object before they exist: the root gives the object this list and
    adds each listener once it is built. Each is called in turn; one that raises is logged and
    the others still hear."""

    def __init__(self) -> None:
        self._listeners: list[Callable[P, object]] = []

    def add(self, listener: Callable[P, object]) -> None:
        self._listeners.append(listener)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            try:
                listener(*args, **kwargs)
            except Exception:
                log.exception("listener %r failed", listener)


def updater(
    sessions: Sessions, database: ViewDatabase, view: CheckpointedView, metrics: Metrics
) -> ViewUpdater:
    """The updater of a checkpointed view, counting the events it has to skip."""
    skipped = metrics.projection_skipped
    skipped.labels(view.name)  # the series exists (at 0) before the first skip
    return ViewUpdater(sessions, database, view, on_skip=[lambda name: skipped.labels(name).inc()])


class PendingSessions:
    """The sessions with turns waiting for narration, from the my-sessions view (the worker's
    sweep). After a restart the view may trail the store: it catches up once before it is
    trusted; later sweeps read a view at most one poll behind, and the next sweep follows."""

    def __init__(
        self, sessions: Sessions, my_sessions: ViewUpdater, database: ViewDatabase
    ) -> None:
        self.sessions, self.my_sessions, self.database = sessions, my_sessions, database
        self._caught_up = threading.Event()

    def __call__(self) -> list[str]:
        if not self._caught_up.is_set():
            self.my_sessions.wait_for(self.sessions.max_position(), timeout=10)
            self._caught_up.set()
        with self.database.transaction() as cur:
            return sessions_with_pending_turns(cur)


def build_narrator(settings: Settings) -> Narrator:
    if not settings.llm_base_url:
        return DemoNarrator()
    # Imported here: its HTTP client (httpx) loads only when a remote model is configured.
    from api.narration.openai_compat import OpenAICompatNarrator  # noqa: PLC0415

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
        # Imported here: its JWKS client (httpx) loads only in oidc mode.
        from api.auth.oidc import OidcAuthenticator  # noqa: PLC0415

        oidc = OidcAuthenticator(issuer=issuer, audience=audience, jwks_url=jwks_url)
        return oidc, None
    secret = settings.jwt_secret or load_or_create_secret(settings.data_dir)
    local = LocalAuthenticator(secret)
    return local, local
