"""A stream's HTTP response where the client or the shutdown ends it (ASGI level, a real store): a
client that takes nothing is dropped after the send timeout, and a stream still open after the
shutdown grace is cut with a reconnection hint; either way its slot and subscription are freed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from uuid import UUID

from starlette.types import Message

from api.live.hub import LiveHub
from api.live.messages import Item
from api.live.response import StreamResponse
from api.live.stream import EventStream
from api.ratelimit import StreamSlots
from domain import roles
from domain.application import Sessions

OWNER = "user-owner"
SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": []}
ENDED_IN_S = 10.0  # a bound for the wait only: the test is about whether the stream ends


async def _never_disconnects() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _one_stream(
    hub: LiveHub, session_id: UUID, slots: StreamSlots
) -> Callable[[Callable[[Message], Awaitable[None]]], Awaitable[None]]:
    """The stream route's response for one owner's stream, ready to be run against a ``send``."""
    stream = EventStream(hub, session_id, OWNER, role=roles.OWNER, after=0, member_at=1)
    response = StreamResponse(
        stream.messages(),
        streams=hub.streams,
        slot=slots.acquire(OWNER),
        shutdown_hint=stream.shutdown_hint,
    )
    return lambda send: response(SCOPE, _never_disconnects, send)


def _bodies(sent: list[Message]) -> list[bytes]:
    return [m["body"] for m in sent if m["type"] == "http.response.body"]


def test_a_client_that_takes_nothing_is_dropped_after_the_send_timeout(
    sessions: Sessions,
) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name=OWNER, title="t").session_id
    slots = StreamSlots(per_user=1, per_instance=10)

    async def scenario() -> None:
        hub = LiveHub(sessions, send_timeout_s=0.2)
        await hub.start()
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)
            if message.get("body"):  # the first event is written, then the client stalls
                await asyncio.Event().wait()

        await asyncio.wait_for(_one_stream(hub, session_id, slots)(send), ENDED_IN_S)
        assert _bodies(sent)[0].startswith(b"id: 1\r\n")
        assert slots.open_count(OWNER) == 0
        assert not hub.has_listeners(session_id)
        assert len(hub.streams) == 0
        slots.acquire(OWNER)  # the cap of one stream lets the next one in
        await hub.stop()

    asyncio.run(scenario())


class _StuckReads(LiveHub):
    """The hub, whose store reads hang until ``release`` is set (a store that stopped answering)."""

    def __init__(self, sessions: Sessions, **kwargs: float) -> None:
        super().__init__(sessions, **kwargs)
        self.release = threading.Event()
        self.reading = threading.Event()
        self.read_done = threading.Event()  # the stuck read's thread is out of the store

    def _read(self, session_id: UUID, gt: int, lte: int | None) -> list[Item]:
        self.reading.set()
        self.release.wait(timeout=30)
        try:
            return super()._read(session_id, gt, lte)
        finally:
            self.read_done.set()


def test_a_stream_stuck_in_a_store_read_is_cut_after_the_grace_with_a_retry_hint(
    sessions: Sessions,
) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name=OWNER, title="t").session_id
    slots = StreamSlots(per_user=1, per_instance=10)

    async def scenario() -> list[bytes]:
        hub = _StuckReads(sessions, shutdown_grace_s=0.2)
        await hub.start()
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        task = asyncio.create_task(_one_stream(hub, session_id, slots)(send))
        try:
            await asyncio.to_thread(hub.reading.wait, ENDED_IN_S)
            hub.begin_shutdown()
            await asyncio.wait_for(task, ENDED_IN_S)
        finally:
            hub.release.set()
            # The abandoned read goes on in its thread: the store must not close under it.
            hub.read_done.wait(ENDED_IN_S)
        assert slots.open_count(OWNER) == 0
        assert not hub.has_listeners(session_id)
        await hub.stop()
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        return _bodies(sent)

    bodies = asyncio.run(scenario())
    hint = bodies[-2]
    assert hint.startswith(b": shutdown: reconnect\r\nretry: "), hint
    assert int(hint.split(b"retry: ")[1].split(b"\r\n")[0]) > 0


def test_a_stream_whose_client_takes_nothing_at_shutdown_is_cut_after_the_grace(
    sessions: Sessions,
) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name=OWNER, title="t").session_id
    slots = StreamSlots(per_user=1, per_instance=10)

    async def scenario() -> None:
        hub = LiveHub(sessions, shutdown_grace_s=0.2)  # the send timeout is far away
        await hub.start()
        stalled = asyncio.Event()

        async def send(message: Message) -> None:
            if message.get("body"):
                stalled.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(_one_stream(hub, session_id, slots)(send))
        await asyncio.wait_for(stalled.wait(), ENDED_IN_S)
        hub.begin_shutdown()
        await asyncio.wait_for(task, ENDED_IN_S)
        assert slots.open_count(OWNER) == 0
        assert len(hub.streams) == 0
        await hub.stop()

    asyncio.run(scenario())
