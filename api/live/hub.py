"""The in-process fan-out of live streams: one feed per watched session, shared by its streams.

A write wakes the session's feed (``saved`` from this process, ``wake`` from the store tail for
other processes); the feed reads the new events from the store once, encodes each as an SSE
message once, and offers the batch to every stream of the session. Streams dedupe by version
and fill any gap from the store themselves (see :mod:`api.live.stream`), so the hub never keeps
history: what a client receives always comes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

import anyio
from anyio import to_thread

from api.live.exit import ExitWatch
from api.live.messages import DELTA_EVENT, Item, compact_json, frame
from api.live.response import SEND_TIMEOUT_S, OpenStreams
from domain.application import Sessions

log = logging.getLogger(__name__)

PAGE: Final = 500  # stored events read per query
MAX_BACKLOG: Final = 2000  # events offered to one stream that it has not taken yet
MAX_DELTAS: Final = 512  # narration deltas waiting for one stream; more are dropped
FETCH_RETRY_S: Final = 1.0  # after a failed store read

# Why the server ends a stream (all but membership_ended come with a reconnection hint).
Closed = Literal["shutdown", "membership_ended", "store_unavailable", "recycled"]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a stream takes from its subscription in one go."""

    deltas: list[bytes]
    items: list[Item]
    resync: bool  # the backlog overflowed: read from the store after your cursor instead


class Subscription:
    """One open stream's mailbox: offered events and deltas, and why it must close, if it must.

    Its stream waits on a plain flag and a future made only for the wait: an ``asyncio.Event``
    per stream would keep a deque of waiters (about 600 bytes) for as long as the stream is open.
    """

    __slots__ = (
        "_changed",
        "_deltas",
        "_items",
        "_resync",
        "_waiter",
        "closed",
        "session_id",
    )

    def __init__(self, session_id: UUID) -> None:
        self.session_id = session_id
        self.closed: Closed | None = None
        self._items: list[Item] = []
        self._deltas: list[bytes] = []
        self._resync = False
        self._changed = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, items: list[Item]) -> None:
        if self._resync:
            return
        if len(self._items) + len(items) > MAX_BACKLOG:
            # A client that does not keep up costs no memory: it catches up from the store.
            self._items.clear()
            self._resync = True
        else:
            self._items.extend(items)
        self._wake()

    def offer_delta(self, message: bytes) -> None:
        if len(self._deltas) < MAX_DELTAS:
            self._deltas.append(message)
            self._wake()

    def close(self, reason: Closed) -> None:
        if self.closed is None:
            self.closed = reason
            self._wake()

    def poke(self) -> None:
        """Wake the stream with nothing offered (its heartbeat or lifetime timer)."""
        self._wake()

    def _wake(self) -> None:
        self._changed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until something was offered or the subscription was closed (at once if it was since
        the last ``take``). One stream waits on it at a time."""
        if self._changed:
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def take(self) -> Taken:
        self._changed = False
        taken = Taken(self._deltas, self._items, self._resync)
        self._deltas, self._items, self._resync = [], [], False
        return taken


class _Feed:
    """The streams of one session, and how far the shared reads of its events have got."""

    __slots__ = ("fetched", "subscribers", "task", "wanted")

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()
        self.fetched: int | None = None  # None until the first stream has replayed
        self.wanted = 0  # the highest version known to be written
        self.task: asyncio.Task[None] | None = None


class LiveHub:
    """Per-session fan-out for this process. Runs on the event loop; ``saved`` is thread-safe."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        shutdown_grace_s: float = 0.0,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self._sessions = sessions
        # Their HTTP responses: a client that takes nothing for send_timeout_s is dropped.
        self.streams = OpenStreams(send_timeout_s=send_timeout_s, grace_s=shutdown_grace_s)
        self._feeds: dict[UUID, _Feed] = {}
        # Called (on the event loop) when a stream opens while no other is open.
        self.on_watched: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit = ExitWatch(self.begin_shutdown)
        self._drain: asyncio.Task[None] | None = None
        # Set when the server begins to shut down, or by stop(): every stream then ends with a
        # reconnection hint.
        self.shutting_down: anyio.Event | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.shutting_down = anyio.Event()
        self._exit.start()

    def begin_shutdown(self) -> None:
        """The server begins to shut down (SIGTERM): every stream ends with its hint, and those
        that cannot are cut after the grace period."""
        if self.shutting_down is None or self.shutting_down.is_set() or self._loop is None:
            return
        self.shutting_down.set()
        self._close_all()
        self._drain = self._loop.create_task(self.streams.drain(), name="live-drain")

    async def stop(self) -> None:
        self._exit.stop()
        if self.shutting_down is not None:
            self.shutting_down.set()
        self._close_all()
        feeds = [f.task for f in self._feeds.values()]
        tasks = [t for t in [self._drain, *feeds] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    def _close_all(self) -> None:
        for feed in self._feeds.values():
            for subscription in feed.subscribers:
                subscription.close("shutdown")

    # -- streams ----------------------------------------------------------------------------

    def subscribe(self, session_id: UUID) -> Subscription:
        """Register a stream before it replays, so that nothing written meanwhile is missed."""
        subscription = Subscription(session_id)
        if self.shutting_down is None or self.shutting_down.is_set():
            subscription.close("shutdown")
            return subscription
        if not self._feeds:
            for listener in self.on_watched:
                listener()
        self._feeds.setdefault(session_id, _Feed()).subscribers.add(subscription)
        return subscription

    def replayed(self, subscription: Subscription, version: int) -> None:
        """The stream has sent everything up to ``version``: a new feed continues from there."""
        feed = self._feeds.get(subscription.session_id)
        if feed is not None and feed.fetched is None:
            feed.fetched = version
            if feed.wanted > version:
                self._fetch(subscription.session_id, feed)

    def unsubscribe(self, subscription: Subscription) -> None:
        feed = self._feeds.get(subscription.session_id)
        if feed is None:
            return
        feed.subscribers.discard(subscription)
        if not feed.subscribers:
            del self._feeds[subscription.session_id]
            if feed.task is not None:
                feed.task.cancel()

    def has_listeners(self, session_id: UUID) -> bool:
        if self._loop is None:  # not started, or stopped: no stream will take a delta
            return False
        feed = self._feeds.get(session_id)
        return feed is not None and bool(feed.subscribers)

    def watched(self) -> bool:
        """True when any session has a stream (read from other threads: a plain dict check)."""
        return bool(self._feeds)

    def open_streams(self) -> int:
        # Called from a scrape thread: copy before iterating what the event loop changes.
        return sum(len(feed.subscribers) for feed in list(self._feeds.values()))

    async def read(self, session_id: UUID, *, gt: int, lte: int | None = None) -> list[Item]:
        """Up to PAGE stored events of the session after version ``gt``, straight from the store."""
        # A read has no effect: a stream cut or disconnected while it runs ends at once, and
        # the read's thread finishes by itself.
        return await to_thread.run_sync(self._read, session_id, gt, lte, abandon_on_cancel=True)

    def _read(self, session_id: UUID, gt: int, lte: int | None) -> list[Item]:
        stored = self._sessions.recorder.select_events(session_id, gt=gt, lte=lte, limit=PAGE)
        return [Item.of(self._sessions.mapper.to_domain_event(s)) for s in stored]

    # -- wake-ups ---------------------------------------------------------------------------

    def saved(self, session_id: UUID, version: int, _position: int) -> None:
        """The ``Sessions.on_saved`` listener: called from any thread after a committed write.

        Skipping unwatched sessions is safe: a stream registered after this check replays
        from the store after the write was committed, so it reads the event itself.
        """
        loop = self._loop
        if loop is None or session_id not in self._feeds:
            return
        # A closed loop raises RuntimeError: the process is shutting down, nobody listens.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.wake, session_id, version)

    def wake_many(self, heads: Mapping[UUID, int]) -> None:
        for session_id, version in heads.items():
            self.wake(session_id, version)

    def wake(self, session_id: UUID, version: int) -> None:
        """``version`` of the session is committed: fetch it for the streams if they lack it."""
        feed = self._feeds.get(session_id)
        if feed is None or version <= feed.wanted:
            return
        feed.wanted = version
        if feed.fetched is not None and version > feed.fetched:
            self._fetch(session_id, feed)

    def _fetch(self, session_id: UUID, feed: _Feed) -> None:
        if feed.task is None and self._loop is not None:
            feed.task = self._loop.create_task(self._fetch_new(session_id, feed))

    async def _fetch_new(self, session_id: UUID, feed: _Feed) -> None:
        """Read what the feed lacks, once for all its streams; single flight per session."""
        failed = False
        try:
            while feed.fetched is not None and feed.wanted > feed.fetched:
                items = await self.read(session_id, gt=feed.fetched)
                if not items:  # nothing newer is readable: forget the stale hint
                    feed.wanted = feed.fetched
                    return
                if self._feeds.get(session_id) is not feed:
                    return
                feed.fetched = items[-1].version
                self._deliver(feed, items)
        except Exception:
            log.exception("live feed read failed", extra={"session_id": str(session_id)})
            failed = True
        finally:
            feed.task = None
        if failed and self._loop is not None:
            self._loop.call_later(FETCH_RETRY_S, self._fetch, session_id, feed)

    def _deliver(self, feed: _Feed, items: list[Item]) -> None:
        # Each stream ends itself on the event that ends its member's membership (after
        # sending it and everything before it), so the hub only hands the batch over.
        for subscription in list(feed.subscribers):
            subscription.offer(items)

    # -- narration deltas -------------------------------------------------------------------

    def publish_delta(self, session_id: UUID, turn_id: UUID, text: str) -> None:
        """Offer a piece of a streaming narration to the session's streams (on the loop).

        Nothing is built for a session without streams: deltas cost nothing then.
        """
        feed = self._feeds.get(session_id)
        if feed is None or not feed.subscribers:
            return
        message = frame(
            data=compact_json({"turn_id": str(turn_id), "text": text}), event=DELTA_EVENT
        )
        for subscription in feed.subscribers:
            subscription.offer_delta(message)
