"""One client's event stream: replay from the store after its cursor, then live, by version.

The subscription is registered before the replay, so events written during the replay are
offered to it as well; every event is then sent only if its version is the cursor plus one.
An older version is a duplicate and skipped; a newer one means a gap, which is filled from the
store first. So a client gets each version exactly once and in order, however reads, wake-ups
and reconnections interleave.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError

from api.live.hub import PAGE, Closed, LiveHub, Subscription
from api.live.messages import Item, frame

log = logging.getLogger(__name__)

RETRY_MS: Final = 1000  # the reconnection hint, plus up to as much jitter
HEARTBEAT: Final = frame(comment="keep-alive")
# A timer may ring this much before its time (the event loop's clock resolution and more).
EARLY_S: Final = 0.005


def farewell(reason: Closed) -> bytes:
    """The last message of a stream the server ends."""
    if reason in ("shutdown", "store_unavailable", "recycled"):
        # Jitter, so that the clients of a stopped instance do not all come back at once.
        delay = RETRY_MS + random.randrange(RETRY_MS)  # noqa: S311 - not a secret
        return frame(comment=f"{reason.replace('_', ' ')}: reconnect", retry=delay)
    return frame(comment="membership ended")


class EventStream:
    """The messages of one stream; iterate ``messages()`` once."""

    def __init__(
        self,
        hub: LiveHub,
        session_id: UUID,
        user_id: str,
        *,
        role: str,
        after: int,
        member_at: int,
        max_seconds: float | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        self._hub = hub
        self._session_id = session_id
        self._user_id = user_id
        # The member's role when the stream opened decides what of an event it may read. Only
        # the owner reads more, and ownership is never granted to or taken from a member.
        self._role = role
        self._member_at = member_at
        # Ended by the server before a proxy's request timeout (Cloud Run: 60 min at most) cuts
        # it: the client reconnects at once instead of seeing an error.
        self._max_seconds = max_seconds
        # A comment every heartbeat_s while the stream is live, busy or not, as proxies want.
        self._heartbeat_s = heartbeat_s
        self.cursor = after  # the version of the last stored event sent
        self._ended: Closed | None = None

    @staticmethod
    def shutdown_hint() -> bytes:
        """The last message of a stream that the shutdown cuts short (see ``StreamResponse``)."""
        return farewell("shutdown")

    async def messages(self) -> AsyncGenerator[bytes, None]:
        hub = self._hub
        subscription = hub.subscribe(self._session_id)
        try:
            async for message in self._from_store(subscription):
                yield message
            if self._ended is None:
                hub.replayed(subscription, self.cursor)
                async for message in self._live(subscription):
                    yield message
        except (OperationalError, InterfaceError) as error:
            # The client resumes from its last id once the store answers again.
            log.warning("stream ended: the store is unavailable (%s)", error)
            self._ended = "store_unavailable"
        finally:
            hub.unsubscribe(subscription)
        if self._ended is not None:
            yield farewell(self._ended)

    async def _live(self, subscription: Subscription) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = None if self._max_seconds is None else now + self._max_seconds
        beat = None if self._heartbeat_s is None else now + self._heartbeat_s
        # One timer per stream for its next heartbeat or its end, armed again only once it
        # rang: waiting for events allocates nothing that outlives the wait.
        timer = _Timer(loop, subscription)
        timer.arm(deadline, beat)
        try:
            while True:
                if deadline is not None and loop.time() >= deadline - timer.slack():
                    self._ended = "recycled"  # a busy stream never waits
                    return
                await subscription.wait()
                if beat is not None and loop.time() >= beat - timer.slack():
                    yield HEARTBEAT
                    beat = loop.time() + (self._heartbeat_s or 0.0)
                if timer.rang:
                    timer.arm(deadline, beat)
                taken = subscription.take()
                if subscription.closed is not None:
                    self._ended = subscription.closed
                    return
                for delta in taken.deltas:
                    yield delta
                if taken.resync:
                    async for message in self._from_store(subscription):
                        yield message
                async for message in self._in_order(subscription, taken.items):
                    yield message
                if self._ended is not None:
                    return
        finally:
            timer.cancel()

    async def _in_order(
        self, subscription: Subscription, items: list[Item]
    ) -> AsyncIterator[bytes]:
        """The offered events that follow the cursor; a gap before one is filled from the store."""
        for item in items:
            if item.version <= self.cursor:
                continue  # already sent: by the replay, or by a gap fill
            if item.version > self.cursor + 1:
                async for message in self._from_store(subscription, until=item.version - 1):
                    yield message
                if self._ended is not None:
                    return
            yield self._sent(item)
            if self._ended is not None:
                return

    async def _from_store(
        self, subscription: Subscription, until: int | None = None
    ) -> AsyncIterator[bytes]:
        """Every stored event after the cursor (up to ``until``), page by page."""
        while until is None or self.cursor < until:
            if subscription.closed is not None:
                self._ended = subscription.closed
                return
            page = await self._hub.read(self._session_id, gt=self.cursor, lte=until)
            for item in page:
                yield self._sent(item)
                if self._ended is not None:
                    return
            if len(page) < PAGE:
                return

    def _sent(self, item: Item) -> bytes:
        self.cursor = item.version
        if item.version > self._member_at and item.ends_membership_of(self._user_id):
            self._ended = "membership_ended"
        return item.frame_for(self._role)


class _Timer:
    """Pokes a subscription at the earliest of two loop times; ``rang`` once it has."""

    __slots__ = ("_handle", "_loop", "_subscription", "rang")

    def __init__(self, loop: asyncio.AbstractEventLoop, subscription: Subscription) -> None:
        self._loop = loop
        self._subscription = subscription
        self._handle: asyncio.TimerHandle | None = None
        self.rang = False

    def arm(self, *times: float | None) -> None:
        self.rang = False
        due = [t for t in times if t is not None]
        if due:
            self._handle = self._loop.call_at(min(due), self._ring)

    def slack(self) -> float:
        """How early a time may be taken as reached: a rung timer may ring a little early."""
        return EARLY_S if self.rang else 0.0

    def _ring(self) -> None:
        self.rang = True
        self._subscription.poke()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
