"""The HTTP response of an event stream: one task per stream that writes the stream's messages.

It sends what sse-starlette's ``EventSourceResponse`` sends (the same headers, the messages as
given, a closing empty body), without its four tasks per response: heartbeats come from the
stream itself (:mod:`api.live.stream`), a disconnect cancels the stream from a watcher of
``receive``, and one sweep per process drops clients that take nothing for the send timeout
and, on shutdown, cuts the streams still open after the grace period.

``StreamHandoff`` serves a stream response once the layers inside it (routing, dependencies,
exception handling, the store gate and the body limit) have returned, so that their frames and
FastAPI's exit stacks are not kept for as long as the stream stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Final, Literal

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.ratelimit import StreamSlot

log = logging.getLogger(__name__)

SEND_TIMEOUT_S: Final = 30.0  # a client that takes nothing for this long is dropped
SWEEP_S: Final = 1.0  # how often sends are checked against the timeout, at most
_END: Final[Message] = {"type": "http.response.body", "body": b"", "more_body": False}
# What Response.init_headers makes of sse-starlette's headers, in its order, built once.
HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
)
# The scope key under which StreamHandoff takes the stream response the route answered.
HANDOFF: Final = "gaia.stream_handoff"
# FastAPI's exit stacks, left in the scope once closed: dependencies with ``yield`` (the stream
# route has none) and uploaded files.
EXIT_STACKS: Final = (
    "fastapi_middleware_astack",
    "fastapi_inner_astack",
    "fastapi_function_astack",
)

Cut = Literal["disconnect", "send_timeout", "shutdown"]


class OpenStreams:
    """The open stream responses of one process: drops those whose client takes nothing for
    ``send_timeout_s``, and cuts those still open ``grace_s`` after shutdown began."""

    def __init__(self, *, send_timeout_s: float = SEND_TIMEOUT_S, grace_s: float = 0.0) -> None:
        self.send_timeout_s = send_timeout_s
        self.grace_s = grace_s
        self._sweep_s = min(SWEEP_S, send_timeout_s / 2)
        self._open: set[StreamResponse] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    def add(self, response: StreamResponse) -> None:
        self._open.add(response)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def discard(self, response: StreamResponse) -> None:
        self._open.discard(response)

    async def _sweep(self) -> None:
        try:
            while self._open:
                await asyncio.sleep(self._sweep_s)
                now = asyncio.get_running_loop().time()
                for response in list(self._open):
                    since = response.sending_since
                    if since is not None and now - since >= self.send_timeout_s:
                        response.cut("send_timeout")
        finally:
            self._sweeper = None

    async def drain(self) -> None:
        """After shutdown began: wait up to the grace period for the streams to end, then cut
        the rest (a stream stuck in a store read or a send)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.grace_s
        while self._open and loop.time() < until:
            await asyncio.sleep(0.1)
        for response in list(self._open):
            response.cut("shutdown")


class StreamResponse(Response):
    """Writes an async iterator of encoded SSE messages; frees its stream slot when it ends.

    A stream cut on shutdown while no send is under way ends with ``shutdown_hint()`` (the
    reconnection hint its messages would have ended with) and a clean end of the body.
    """

    # Set per response, as sse-starlette does: left unset on the class, the route's other
    # answers are described as JSON in the OpenAPI document.
    media_type = None

    def __init__(
        self,
        messages: AsyncGenerator[bytes, None],
        *,
        streams: OpenStreams,
        slot: StreamSlot,
        shutdown_hint: Callable[[], bytes] | None = None,
        status_code: int = 200,  # the only one: read by the OpenAPI description
    ) -> None:
        self.status_code = status_code
        self.media_type = "text/event-stream"
        self.background = None
        self.raw_headers = list(HEADERS)
        self.messages = messages
        self.streams = streams
        self.slot = slot
        self.shutdown_hint = shutdown_hint
        self.sending_since: float | None = None  # loop time of the send under way, if any
        self._task: asyncio.Task[object] | None = None
        self._cut: Cut | None = None
        self._done = False

    def cut(self, reason: Cut) -> None:
        """End the stream now (from the event loop, while its task waits)."""
        if self._cut is None and not self._done and self._task is not None:
            self._cut = reason
            self._task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handoff = scope.get(HANDOFF)
        if handoff is not None and not handoff:  # StreamHandoff serves it once the route returned
            handoff.append((self, receive, send))
            return
        await self.serve(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            start: Message = {"type": "http.response.start", "status": self.status_code}
            start["headers"] = self.raw_headers
            if scope["method"] == "HEAD":  # headers only: the stream never starts
                await send(start)
                await send(_END)
                return
            await self._stream(start, receive, send)
        finally:
            self.slot.release()

    async def _stream(self, start: Message, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        task = self._task = asyncio.current_task()
        self.streams.add(self)
        listener = loop.create_task(self._listen(receive))
        started = False
        try:
            self.sending_since = loop.time()
            await send(start)
            self.sending_since = None  # the first read is not the client's to wait for
            started = True
            async for chunk in self.messages:
                self.sending_since = loop.time()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.sending_since = None
            self.sending_since = loop.time()
            await send(_END)
            self.sending_since = None
        except asyncio.CancelledError:
            if self._cut is None or task is None or task.uncancel() > 0:
                raise
            await self._after_cut(send, started=started)
        finally:
            self._done = True
            listener.cancel()
            self.streams.discard(self)
            await self.messages.aclose()

    async def _after_cut(self, send: Send, *, started: bool) -> None:
        if self._cut == "send_timeout":
            log.info(
                "dropped a stream whose client took nothing for %.1f s",
                self.streams.send_timeout_s,
            )
        elif self._cut == "shutdown" and started and self.sending_since is None:
            # The reconnection hint and a clean end of the chunked body rather than a truncated
            # one; best effort.
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self.streams.send_timeout_s):
                    if self.shutdown_hint is not None:
                        body = self.shutdown_hint()
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                    await send(_END)

    async def _listen(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.cut("disconnect")


class StreamHandoff:
    """ASGI middleware: a stream response that the app inside answered is served here, after the
    app has returned.

    The response is served with the ``receive`` and ``send`` it was given, so that whatever the
    inner layers do to the messages (the body limit's checks) still applies; an error once the
    stream has started ends it as it did inside them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        handed: list[tuple[StreamResponse, Receive, Send]] = []
        scope[HANDOFF] = handed
        try:
            await self.app(scope, receive, send)
        except BaseException:
            for response, _, _ in handed:  # never to be served: free its slot
                response.slot.release()
            raise
        finally:
            del scope[HANDOFF]
        if not handed:
            return
        response, stream_receive, stream_send = handed.pop()
        for key in EXIT_STACKS:  # closed by now
            scope.pop(key, None)
        try:
            await response.serve(scope, stream_receive, stream_send)
        except Exception as error:
            if _has_handler(scope, error):
                # What Starlette's exception handling, which used to wrap the stream, raises for
                # an error it has a handler for once the response has started.
                message = "Caught handled exception, but response already started."
                raise RuntimeError(message) from error
            raise


def _has_handler(scope: Scope, error: Exception) -> bool:
    """True if the app's ExceptionMiddleware has a handler for ``error``."""
    by_class, by_status = scope.get("starlette.exception_handlers", ({}, {}))
    if isinstance(error, HTTPException) and error.status_code in by_status:
        return True
    return any(cls in by_class for cls in type(error).__mro__)
