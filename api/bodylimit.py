"""The request body cap: every body but a media upload (which streams to disk under its own
GAIA_MAX_UPLOAD_BYTES) is at most GAIA_MAX_BODY_BYTES, checked before any route, dependency
or authentication sees it.

A pure ASGI middleware, so that it buffers nothing and streamed responses pass untouched. A
declared ``Content-Length`` over the cap is answered 413 ``body_too_large`` before a byte is
read, and one within it passes untouched (the server delivers no more than it declares). A
body without one (chunked) is counted as it arrives: the message that crosses the cap
is never handed to the app; its read fails instead, and whatever the app then answers is
replaced by the same 413, so a partial body is never parsed.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body_too_large

# Uploads stream to a temporary file and enforce their own, larger limit while reading.
UPLOAD_PATH: Final = re.compile(r"/api/sessions/[^/]+/media")


class BodyTooLarge(Exception):
    """Raised to the app in place of the body chunk that crossed the cap."""

    def __init__(self) -> None:
        super().__init__("the request body is over the limit")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "POST" and UPLOAD_PATH.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await body_too_large(self.max_bytes)(scope, receive, send)
            else:  # the server delivers no more than the declared length
                await self.app(scope, receive, send)
            return

        received = 0
        crossed = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, crossed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    crossed = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if crossed:
                return  # the app's answer to a failed read: the 413 goes out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not crossed:
                raise
            # The failed read surfaced as an error (BodyTooLarge, or whatever the app made
            # of it): the answer is the 413.
        if crossed and not started:
            await body_too_large(self.max_bytes)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
