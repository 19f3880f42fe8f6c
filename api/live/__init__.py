"""Live session streams: server-sent events with exact resume, across instances.

Modules: ``hub`` (the in-process fan-out: one feed per watched session, narration deltas),
``tail`` (wake-ups for other processes' writes: PostgreSQL LISTEN plus a backup poll),
``stream`` (one client's stream: replay, then live, exactly once by version). ``Live`` holds
them with the stream and media tickets; ``start_live`` wires it to the application and the
turn worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from anyio import to_thread

from api.auth import (
    MEDIA_TICKET_AUDIENCE,
    MEDIA_TICKET_TTL_S,
    StreamTickets,
    load_or_create_secret,
)
from api.live.hub import DELTA_EVENT, LiveHub
from api.live.stream import EventStream
from api.live.tail import StoreTail
from api.settings import Settings

if TYPE_CHECKING:
    from api.state import AppState

__all__ = ["DELTA_EVENT", "EventStream", "Live", "LiveHub", "StoreTail", "start_live"]


def ticket_secret(settings: Settings) -> str:
    """The key that signs stream tickets: GAIA_JWT_SECRET, else the one generated into the data
    dir. In local mode it also signs access tokens; in oidc mode it signs only tickets, so several
    instances must share it (set GAIA_JWT_SECRET) for a ticket to work on all of them."""
    return settings.jwt_secret or load_or_create_secret(settings.data_dir)


@dataclass
class Live:
    hub: LiveHub
    tail: StoreTail
    tickets: StreamTickets  # for event streams
    media_tickets: StreamTickets  # for media URLs

    async def stop(self, state: AppState) -> None:
        """Detach from the application, end every stream, and stop the tail."""
        if self.hub.saved in state.sessions.on_saved:
            state.sessions.on_saved.remove(self.hub.saved)
        state.worker.publish_delta = None
        state.worker.wants_deltas = lambda _sid: False
        await self.hub.stop()
        await self.tail.stop()


async def start_live(state: AppState) -> Live:
    """Build the live streams for a started service and hook them to its writes and narrations."""
    settings = state.settings
    secret = await to_thread.run_sync(ticket_secret, settings)
    hub = LiveHub(state.sessions)
    tail = StoreTail(
        state.sessions.recorder,
        hub.wake_many,
        watched=hub.watched,
        database_url=settings.database_url,
        poll_interval_s=settings.stream_poll_seconds,
    )
    await hub.start()
    await tail.start()
    state.sessions.on_saved.append(hub.saved)
    state.worker.publish_delta = hub.publish_delta
    state.worker.wants_deltas = hub.has_listeners
    media_tickets = StreamTickets(secret, ttl_s=MEDIA_TICKET_TTL_S, audience=MEDIA_TICKET_AUDIENCE)
    return Live(hub=hub, tail=tail, tickets=StreamTickets(secret), media_tickets=media_tickets)
