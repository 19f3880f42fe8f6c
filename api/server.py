"""How uvicorn serves the app, in one place: ``python -m api serve`` and the tests' in-process
servers both take their options from ``server_options`` and run ``GaiaServer``, so both read
client addresses the same way and shut down the same way.

By default uvicorn rewrites the client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto`` for peers it trusts (127.0.0.1), which would let any caller on the
machine, or behind a local relay, choose the address that per-address limits count. Only
``GAIA_TRUST_PROXY_HEADERS`` turns that on, and then for every peer (``forwarded_allow_ips="*"``):
on Cloud Run only Google's front end reaches the container, from addresses it does not publish.
The app still takes the client address from the hop that front end appended, never from one the
client wrote (``api.deps.client_address``).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Final

import uvicorn

from api.settings import Settings

# On SIGTERM, how long open requests get; GAIA_STREAM_SHUTDOWN_GRACE_SECONDS stays below it.
GRACEFUL_SHUTDOWN_S: Final = 8
# How often, while a shutdown waits for connections, each is asked again to close when idle.
RECLOSE_EVERY_S: Final = 0.1


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options that follow from the settings (host, port and logging aside)."""
    trusted = settings.trust_proxy_headers
    return {
        "proxy_headers": trusted,
        "forwarded_allow_ips": "*" if trusted else None,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }


class GaiaServer(uvicorn.Server):
    """uvicorn's server, which also closes connections that come in as a shutdown begins.

    uvicorn asks every connection to close (at once when idle, after its response otherwise)
    once, as the shutdown starts. A connection accepted in that same moment is set up after
    that call and, idle, would hold the shutdown until ``GRACEFUL_SHUTDOWN_S`` is over: past
    the time Cloud Run allows between SIGTERM and SIGKILL, with the app's own shutdown still to
    run. So while the shutdown waits, every connection is asked again (for one already asked,
    the same request again: close when idle)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        reclose = asyncio.create_task(self._reclose_connections())
        try:
            await super().shutdown(sockets)
        finally:
            reclose.cancel()

    async def _reclose_connections(self) -> None:
        while True:
            await asyncio.sleep(RECLOSE_EVERY_S)
            for connection in list(self.server_state.connections):
                connection.shutdown()
