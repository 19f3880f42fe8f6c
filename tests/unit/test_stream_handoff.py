"""Event streams served after the route's layers have returned (``StreamHandoff``): no frame of
routing, exception handling or our inner middleware, and no FastAPI exit stack, stays alive for
as long as a stream is open; every other answer passes untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, operations
from api.errors import ApiError
from api.live.response import OpenStreams, StreamResponse
from api.ratelimit import StreamSlots

SID = "00000000-0000-4000-8000-000000000001"
# Where FastAPI keeps its exit stacks in the scope (files, dependencies with yield).
EXIT_STACKS = ("fastapi_middleware_astack", "fastapi_inner_astack", "fastapi_function_astack")


class _Inner:
    """A middleware inside the hand-off that notes when its call returns."""

    def __init__(self, app: ASGIApp, log: list[str], fail: bool = False) -> None:
        self.app = app
        self.log = log
        self.fail = fail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if self.fail:
            raise LookupError("an inner layer failed after the route answered")
        self.log.append("inner layer returned")


def _app(
    log: list[str],
    seen: dict[str, Any],
    slots: StreamSlots,
    fail: Exception | None = None,
    *,
    inner_fails: bool = False,
) -> FastAPI:
    app = FastAPI()
    errors.install(app, postgres=False)
    app.add_middleware(_Inner, log=log, fail=inner_fails)  # added first: inside the hand-off
    operations.install(app)

    @app.get("/api/sessions/{sid}/events", response_class=StreamResponse)
    async def events(request: Request) -> StreamResponse:
        async def messages() -> AsyncGenerator[bytes, None]:
            seen["scope_keys"] = set(request.scope)
            yield b": one\r\n\r\n"
            if fail is not None:
                raise fail

        return StreamResponse(messages(), streams=OpenStreams(), slot=slots.acquire("u"))

    @app.get("/api/other")
    async def other() -> dict[str, str]:
        return {"answer": "plain"}

    return app


async def _call(app: FastAPI, path: str, log: list[str]) -> list[Message]:
    sent: list[Message] = []
    disconnected = asyncio.Event()

    async def receive() -> Message:
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        log.append(message["type"])
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "app": app,
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    disconnected.set()
    return sent


def test_a_stream_starts_after_the_layers_inside_the_hand_off_returned() -> None:
    log: list[str] = []
    slots = StreamSlots(per_user=5, per_instance=5)
    app = _app(log, {}, slots)
    asyncio.run(_call(app, f"/api/sessions/{SID}/events", log))
    assert log[0] == "inner layer returned"
    assert log[1:] == ["http.response.start", "http.response.body", "http.response.body"]
    assert slots.open_count("u") == 0


def test_an_open_stream_keeps_no_fastapi_exit_stack_in_its_scope() -> None:
    seen: dict[str, Any] = {}
    app = _app([], seen, StreamSlots(per_user=5, per_instance=5))
    asyncio.run(_call(app, f"/api/sessions/{SID}/events", []))
    assert not seen["scope_keys"] & set(EXIT_STACKS)


class _SseStarletteHeaders(Response):
    """The headers sse-starlette's EventSourceResponse sends, made as it makes them."""

    media_type = "text/event-stream"

    def __init__(self) -> None:  # no body: a stream declares no length
        headers = MutableHeaders()
        headers["Cache-Control"] = "no-store"
        headers["Connection"] = "keep-alive"
        headers["X-Accel-Buffering"] = "no"
        self.init_headers(headers)


def test_a_stream_sends_the_headers_sse_starlette_sends() -> None:
    expected = _SseStarletteHeaders()
    sent = asyncio.run(_call(_app([], {}, StreamSlots(5, 5)), f"/api/sessions/{SID}/events", []))
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": expected.raw_headers,
    }


def test_other_answers_pass_the_hand_off_untouched() -> None:
    log: list[str] = []
    sent = asyncio.run(_call(_app(log, {}, StreamSlots(5, 5)), "/api/other", log))
    assert log == ["http.response.start", "http.response.body", "inner layer returned"]
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b'{"answer":"plain"}'


def test_an_error_with_a_handler_ends_a_started_stream_as_exception_handling_did() -> None:
    # Starlette's exception handling, which the stream used to run inside, cannot answer once
    # the response started: it raises this to the server, which closes the connection.
    failure = ApiError(409, "conflict", "late")
    slots = StreamSlots(5, 5)
    app = _app([], {}, slots, fail=failure)
    with pytest.raises(RuntimeError, match="response already started") as raised:
        asyncio.run(_call(app, f"/api/sessions/{SID}/events", []))
    assert raised.value.__cause__ is failure
    assert slots.open_count("u") == 0


def test_an_unexpected_error_ends_a_started_stream_as_itself() -> None:
    failure = ValueError("broken")
    app = _app([], {}, StreamSlots(5, 5), fail=failure)
    with pytest.raises(ValueError, match="broken") as raised:
        asyncio.run(_call(app, f"/api/sessions/{SID}/events", []))
    assert raised.value is failure


def test_a_stream_that_is_never_served_frees_its_slot() -> None:
    slots = StreamSlots(5, 5)
    app = _app([], {}, slots, inner_fails=True)
    with pytest.raises(LookupError):
        asyncio.run(_call(app, f"/api/sessions/{SID}/events", []))
    assert slots.open_count("u") == 0
