"""The live hub's parts against a real store: a stream's ordering rules when offers arrive out of
step with the store, and the store tail finding other processes' writes by polling alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from api.live import hub as hub_module
from api.live.hub import LiveHub, Subscription
from api.live.messages import Item
from api.live.stream import EventStream
from api.live.tail import StoreTail
from domain import roles
from domain.application import Sessions
from tests.integration.conftest import SessionsFactory

OWNER = "user-owner"


class RecordingHub(LiveHub):
    """The hub, keeping the last subscription so that a test can offer events to it."""

    subscription: Subscription

    def subscribe(self, session_id: UUID) -> Subscription:
        self.subscription = super().subscribe(session_id)
        return self.subscription


def _session_with(sessions: Sessions, events: int) -> UUID:
    session_id = sessions.start_session(owner=OWNER, owner_name=OWNER, title="t1").session_id
    _rename(sessions, session_id, range(2, events + 1))
    return session_id


def _rename(sessions: Sessions, session_id: UUID, versions: range) -> None:
    for n in versions:
        sessions.rename(session_id=session_id, actor=OWNER, title=f"t{n}")


def _items(sessions: Sessions, session_id: UUID, *versions: int) -> list[Item]:
    return [Item.of(e) for e in sessions.events.get(session_id) if e.originator_version in versions]


async def _versions(messages: AsyncIterator[bytes], count: int) -> list[int]:
    versions = []
    while len(versions) < count:
        message = await asyncio.wait_for(anext(messages), timeout=10)
        versions.append(int(message.split(b"\r\n", 1)[0].removeprefix(b"id: ")))
    return versions


def test_a_stream_fills_a_gap_from_the_store_and_skips_what_it_already_sent(
    sessions: Sessions,
) -> None:
    session_id = _session_with(sessions, 3)

    async def scenario() -> list[int]:
        hub = RecordingHub(sessions)
        await hub.start()
        stream = EventStream(hub, session_id, OWNER, role=roles.OWNER, after=0, member_at=3)
        messages = stream.messages()
        replayed = await _versions(messages, 3)
        # Written without waking the hub; then only version 6 is offered, and version 2 again.
        await asyncio.to_thread(_rename, sessions, session_id, range(4, 7))
        hub.subscription.offer(_items(sessions, session_id, 2, 6))
        live = await _versions(messages, 3)
        await messages.aclose()
        await hub.stop()
        return replayed + live

    assert asyncio.run(scenario()) == [1, 2, 3, 4, 5, 6]


def test_a_stream_whose_backlog_overflows_catches_up_from_the_store(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "MAX_BACKLOG", 2)
    session_id = _session_with(sessions, 1)

    async def scenario() -> list[int]:
        hub = RecordingHub(sessions)
        await hub.start()
        stream = EventStream(hub, session_id, OWNER, role=roles.OWNER, after=0, member_at=1)
        messages = stream.messages()
        replayed = await _versions(messages, 1)
        await asyncio.to_thread(_rename, sessions, session_id, range(2, 6))
        for version in range(2, 6):  # more than the backlog holds: the offers are dropped
            hub.subscription.offer(_items(sessions, session_id, version))
        live = await _versions(messages, 4)
        await messages.aclose()
        await hub.stop()
        return replayed + live

    assert asyncio.run(scenario()) == [1, 2, 3, 4, 5]


def test_the_tail_finds_another_writers_events_by_polling_alone(
    sessions: Sessions, make_sessions: SessionsFactory
) -> None:
    other = make_sessions()  # another process, as far as the tail can tell

    async def scenario() -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        arrived = asyncio.Event()

        def on_heads(heads: dict[UUID, int]) -> None:
            found.update(heads)
            arrived.set()

        # No database URL: no LISTEN connection, so only the poll can see the write.
        tail = StoreTail(
            sessions.recorder,
            on_heads,
            watched=lambda: True,
            database_url=None,
            poll_interval_s=0.05,
        )
        await tail.start()
        try:
            written = await asyncio.to_thread(
                other.start_session, owner=OWNER, owner_name=OWNER, title="elsewhere"
            )
            while written.session_id not in found:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), timeout=10)
        finally:
            await tail.stop()
        return {written.session_id: found[written.session_id]}

    assert list(asyncio.run(scenario()).values()) == [1]


class CountingRecorder:
    """A recorder that counts the reads of the global log made through it."""

    def __init__(self, recorder: object) -> None:
        self._recorder = recorder
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        if name in ("select_notifications", "max_notification_id"):
            self.reads += 1
        return getattr(self._recorder, name)


def test_the_tail_reads_nothing_on_a_notification_while_no_stream_is_open(
    sessions: Sessions,
) -> None:
    recorder = CountingRecorder(sessions.recorder)
    open_streams: list[int] = []

    async def scenario() -> tuple[int, int]:
        tail = StoreTail(
            recorder,  # type: ignore[arg-type]
            lambda _heads: None,
            watched=lambda: bool(open_streams),
            database_url=None,
            poll_interval_s=60,
        )
        await tail.start()
        try:
            started = recorder.reads
            for _ in range(10):
                tail.nudge()
                await asyncio.sleep(0)
            await asyncio.sleep(0.1)
            unwatched = recorder.reads - started
            open_streams.append(1)
            tail.nudge()
            for _ in range(100):
                await asyncio.sleep(0.01)
                if recorder.reads > started:
                    break
            return unwatched, recorder.reads - started
        finally:
            await tail.stop()

    unwatched, watched = asyncio.run(scenario())
    assert unwatched == 0
    assert watched >= 1


def test_the_hub_says_when_a_stream_opens_where_none_was(sessions: Sessions) -> None:
    async def scenario() -> int:
        hub = LiveHub(sessions)
        heard: list[None] = []
        hub.on_watched.append(lambda: heard.append(None))
        await hub.start()
        try:
            session_id = _session_with(sessions, 1)
            first = hub.subscribe(session_id)
            hub.subscribe(session_id)
            hub.subscribe(_session_with(sessions, 1))
            hub.unsubscribe(first)
            return len(heard)
        finally:
            await hub.stop()

    assert asyncio.run(scenario()) == 1
