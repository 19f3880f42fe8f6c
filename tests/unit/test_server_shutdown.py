"""The server's shutdown closes a connection that came in as the shutdown began: uvicorn asks
each connection to close once, at the start, and one set up just after that call would hold the
shutdown for its whole graceful timeout (8 s, with Cloud Run's SIGKILL at 10 s)."""

from __future__ import annotations

import asyncio
import time

import uvicorn
from uvicorn.lifespan.off import LifespanOff

from api.server import GaiaServer

TIMEOUT_S = 5


class LateConnection:
    """An idle connection set up after the shutdown's first call to every connection."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        self.asked = 0

    def shutdown(self) -> None:  # what an idle uvicorn connection does: close, and be gone
        self.asked += 1
        self.server.server_state.connections.discard(self)


async def shut_down_with_a_late_connection(server: uvicorn.Server) -> tuple[float, int]:
    """Seconds the shutdown of a started ``server`` took, and how often the late connection
    was asked to close."""
    server.config.load()
    server.lifespan = LifespanOff(server.config)  # as uvicorn's serve() sets it up
    await server.startup()
    late = LateConnection(server)

    async def arrive() -> None:
        await asyncio.sleep(0.02)  # after the first call, within uvicorn's 0.1 s pause
        server.server_state.connections.add(late)  # type: ignore[arg-type]

    arriving = asyncio.create_task(arrive())
    started = time.monotonic()
    await server.shutdown()
    await arriving
    return time.monotonic() - started, late.asked


async def app(scope: object, receive: object, send: object) -> None:
    """No request reaches it."""


def config() -> uvicorn.Config:
    return uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", timeout_graceful_shutdown=TIMEOUT_S
    )


def test_a_connection_set_up_as_shutdown_began_is_closed_without_waiting_out_the_timeout() -> None:
    took, asked = asyncio.run(shut_down_with_a_late_connection(GaiaServer(config())))
    assert asked == 1
    assert took < 1


def test_uvicorn_alone_waits_for_it_until_the_timeout() -> None:
    """What the server above mends (if uvicorn mends it itself, this fails: drop the mending)."""
    took, asked = asyncio.run(shut_down_with_a_late_connection(uvicorn.Server(config())))
    assert asked == 0
    assert took >= TIMEOUT_S
