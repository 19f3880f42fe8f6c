"""Live session streams: server-sent events with exact resume, across instances.

Modules: ``hub`` (the in-process fan-out: one feed per watched session, narration deltas),
``messages`` (stored events encoded once as SSE messages), ``response`` (the HTTP response of
a stream: disconnects, send timeouts, the cut after the shutdown grace), ``exit`` (the shutdown
signal, seen before the server waits for open connections),
``tail`` (wake-ups for other processes' writes: PostgreSQL LISTEN plus a backup poll),
``stream`` (one client's stream: replay, then live, exactly once by version). ``Live`` holds
them with the stream and media tickets; ``api.composition`` builds it and connects the hub to
the application's writes and the turn worker's narrations.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.auth import StreamTickets, load_or_create_secret
from api.live.hub import LiveHub
from api.live.messages import DELTA_EVENT
from api.live.stream import EventStream
from api.live.tail import StoreTail
from api.settings import Settings

__all__ = ["DELTA_EVENT", "EventStream", "Live", "LiveHub", "StoreTail"]


def ticket_secret(settings: Settings) -> str:
    """The key that signs stream tickets: GAIA_JWT_SECRET, else the one generated into the data
    dir. In local mode it also signs access tokens; in oidc mode it signs only tickets, so several
    instances must share it (set GAIA_JWT_SECRET) for a ticket to work on all of them."""
    return settings.jwt_secret or load_or_create_secret(settings.data_dir)


@dataclass(frozen=True)
class Live:
    hub: LiveHub
    tail: StoreTail
    tickets: StreamTickets  # for event streams
    media_tickets: StreamTickets  # for media URLs
