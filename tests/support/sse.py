"""Reading server-sent events in tests exactly as they are on the wire.

httpx-sse keeps the last ``id`` on messages without one (as a browser does) and drops comments;
the live-stream tests need to see both, so this small parser reports each message with only
the fields it really carried, plus the comment lines before it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Message:
    """One dispatched block: the fields present in it, and the comment lines seen with it."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def version(self) -> int:
        assert self.id is not None, f"a message without id: {self}"
        return int(self.id)

    def json(self) -> Any:
        assert self.data is not None, f"a message without data: {self}"
        return json.loads(self.data)


async def messages(response: httpx.Response) -> AsyncIterator[Message]:
    """Each block of ``response`` (CR, LF or CRLF line ends) until the stream ends."""
    current = Message()
    async for line in response.aiter_lines():
        if line == "":
            if current != Message():
                yield current
            current = Message()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            current.comments.append(value)
        elif name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data = value if current.data is None else f"{current.data}\n{value}"
        elif name == "retry" and value.isdigit():
            current.retry = int(value)
    if current != Message():
        yield current


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, path: str, *, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.Response]:
    """``GET path`` as a stream; the caller checks the status before reading ``messages``."""
    async with client.stream("GET", path, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
        yield response


def events_path(session_id: str, **query: str | int) -> str:
    path = f"/api/sessions/{session_id}/events"
    if query:
        path += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return path


def async_client(base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    """A client for many concurrent streams: no pool limit, no read timeout while idle."""
    return httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        timeout=httpx.Timeout(10.0, read=None),
        **kwargs,
    )
