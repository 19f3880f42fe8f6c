"""A client that goes away ends its stream at once (real uvicorn, whose sends to a gone client
return without error): the stream's task is cancelled, its subscription dropped and its slot
freed, so the per-user cap lets the next stream in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from uuid import UUID

from tests.e2e.conftest import OWNER
from tests.support.api import Service, running
from tests.support.sse import async_client, events_path, messages, stream
from tests.support.stores import StoreConfig

# Far beyond the wait below: only the disconnect can end the stream in time.
HEARTBEAT_S = 600
ENDED_IN_S = 5.0  # a bound for the wait only


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + ENDED_IN_S
    while not condition():
        assert time.monotonic() < deadline, "the stream outlived its client"
        await asyncio.sleep(0.01)


async def _open_and_drop(service: Service, sid: str) -> None:
    hub, slots = service.state.live.hub, service.state.stream_slots
    headers = service.headers(OWNER)
    async with async_client(service.base_url) as client:
        async with stream(client, events_path(sid), headers=headers) as response:
            assert response.status_code == 200
            async for message in messages(response):
                assert message.version == 1  # replayed: the stream is live and idle now
                break
            assert hub.has_listeners(UUID(sid))
        # The client closed the connection.
        await _until(
            lambda: (
                slots.open_count(OWNER) == 0
                and not hub.has_listeners(UUID(sid))
                and len(hub.streams) == 0
            )
        )
        async with stream(client, events_path(sid), headers=headers) as again:
            assert again.status_code == 200  # the cap of one stream counts the closed one no more


def test_a_client_that_disconnects_ends_its_stream_and_frees_its_slot(store: StoreConfig) -> None:
    with running(store, streams_per_user=1, stream_heartbeat_seconds=HEARTBEAT_S) as service:
        created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Gone"})
        assert created.status_code == 201, created.text
        asyncio.run(_open_and_drop(service, str(created.json()["session_id"])))
