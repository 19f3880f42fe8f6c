"""A round-robin TCP proxy on one loopback port, in front of several instances of the service.

Each accepted connection goes to the next backend in turn; a backend that refuses the connection
(a killed instance, or one still starting) is skipped for the next. Bytes are copied both ways
as they come, so server-sent events stream through; when either side closes or breaks, both
are closed, so a client whose instance dies sees its response cut, as behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence

import httpx

CONNECT_TIMEOUT_S = 2.0
CHUNK = 64 * 1024


class RoundRobinProxy:
    """``await start()``, then clients use ``base_url``; ``await stop()`` closes everything."""

    def __init__(self, backend_ports: Sequence[int]) -> None:
        self.backend_ports = list(backend_ports)
        self.connections: Counter[int] = Counter()  # by backend port: how many it was given
        self.refused = 0  # client connections no backend would take
        # The backend port behind each open client connection, by the client's own port.
        self.routes: dict[int, int] = {}
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the proxy is not running"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def backend_of(self, response: httpx.Response) -> int | None:
        """The backend port serving ``response``, while its connection is open."""
        stream = response.extensions.get("network_stream")
        client_addr = stream.get_extra_info("client_addr") if stream is not None else None
        return self.routes.get(client_addr[1]) if client_addr else None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend that accepts a connection, trying each at most once."""
        # The order is fixed before the first await: connections accepted meanwhile move the
        # shared counter, and must not make this one try the same dead backend twice.
        first = self._next
        self._next += 1
        count = len(self.backend_ports)
        for port in (self.backend_ports[(first + n) % count] for n in range(count)):
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                continue
            self.connections[port] += 1
            return upstream
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                self.refused += 1
                return
            up_reader, up_writer = upstream
            client_port = writer.get_extra_info("peername")[1]
            self.routes[client_port] = up_writer.get_extra_info("peername")[1]
            try:
                copies = [
                    asyncio.create_task(_copy(reader, up_writer)),
                    asyncio.create_task(_copy(up_reader, writer)),
                ]
                try:
                    # Either side ending ends the exchange: a dead instance cuts its clients.
                    await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for copy in copies:
                        copy.cancel()
                    await asyncio.gather(*copies, return_exceptions=True)
            finally:
                self.routes.pop(client_port, None)
                up_writer.close()
        except asyncio.CancelledError:
            # stop() cancels the connections still open. This task is asyncio's callback for
            # one connection, nobody awaits it: ending it quietly keeps the log clean.
            pass
        finally:
            writer.close()
            self._pipes.discard(task)


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
