"""Wake-ups for writes made by other processes: one tail of the store's global log per process.

On PostgreSQL the library NOTIFYs a channel named after the events table in every write
transaction (no payload; delivered at commit). One connection per process LISTENs on it; each
notification, and a slow backup poll, make the tail read the notifications after the last
position it has seen and wake the hub for the sessions they belong to. A lost notification, or
a LISTEN connection that dropped, therefore only delays an event until the next poll or
reconnection. On SQLite there is one server process; the poll still covers other writers of
the file (an import job).

While no stream is open the connection does not LISTEN (each notification costs the event loop
a wake-up) and nothing reads the log but the poll, which moves the position up to the head; the
first stream to open starts the LISTEN again, then a read from the position covers whatever
came before it took effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Final
from uuid import UUID

from anyio import to_thread
from eventsourcing.persistence import ApplicationRecorder, InterfaceError, OperationalError

from domain.adapters.config import postgres_recorder

log = logging.getLogger(__name__)

SCAN_LIMIT: Final = 1000  # notifications read per query
RECONNECT_MIN_S: Final = 0.5
RECONNECT_MAX_S: Final = 10.0
LISTEN_APPLICATION_NAME: Final = "gaia-live-listen"


class StoreTail:
    """Follows the global log from the head at start-up and reports, per session, the highest
    version written after it (``on_heads``). Reads only while ``watched()`` says a stream is open.
    """

    def __init__(
        self,
        recorder: ApplicationRecorder,
        on_heads: Callable[[Mapping[UUID, int]], None],
        *,
        watched: Callable[[], bool],
        database_url: str | None,
        poll_interval_s: float,
    ) -> None:
        self._recorder = recorder
        self._on_heads = on_heads
        self._watched = watched
        self._database_url = database_url
        self._poll_interval_s = poll_interval_s
        self._position = 0
        self._scan_task: asyncio.Task[None] | None = None
        self._again = False
        self._tasks: list[asyncio.Task[None]] = []
        self._streams_open = asyncio.Event()  # set by ``watching``; the LISTEN waits for it

    @property
    def channel(self) -> str | None:
        """The library's NOTIFY channel (the events table name), or None off PostgreSQL."""
        postgres = postgres_recorder(self._recorder)
        return None if postgres is None else postgres.channel_name

    async def start(self) -> None:
        self._position = await to_thread.run_sync(self._head)
        self._tasks.append(asyncio.create_task(self._poll_forever(), name="live-poll"))
        if self._database_url and self.channel:
            listener = self._listen_forever(self._database_url, self.channel)
            self._tasks.append(asyncio.create_task(listener, name="live-listen"))

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._scan_task] if self._scan_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def watching(self) -> None:
        """A stream has opened where none was (the hub calls it, on the event loop)."""
        self._streams_open.set()

    def nudge(self, *, unwatched_too: bool = False) -> None:
        """Read the log after the last position now (single flight: a nudge during a read
        makes it read once more). Without a stream open only a poll (``unwatched_too``) reads:
        it skips to the head. A stream opened in between replays what was written before it
        and is followed by the next read, which starts at or before the head it replayed to."""
        if not unwatched_too and not self._watched():
            return
        if self._scan_task is not None:
            self._again = True
            return
        self._scan_task = asyncio.create_task(self._scan_until_quiet(), name="live-scan")

    async def _scan_until_quiet(self) -> None:
        try:
            self._again = True
            while self._again:
                self._again = False
                self._position, heads = await to_thread.run_sync(self._scan, self._position)
                if heads:
                    self._on_heads(heads)
        except (OperationalError, InterfaceError) as error:  # the next poll tries again
            log.warning("live tail cannot read the store: %s", error)
        except Exception:
            log.exception("live tail read failed")
        finally:
            self._scan_task = None

    def _head(self) -> int:
        return self._recorder.max_notification_id() or 0

    def _scan(self, start: int) -> tuple[int, dict[UUID, int]]:
        """In a worker thread: the new position, and the highest new version per session."""
        if not self._watched():
            # Nobody to wake: skip to the head. A stream that registers after the second check
            # replays from the store after every event up to that head was committed.
            head = self._head()
            if not self._watched():
                return max(start, head), {}
        heads: dict[UUID, int] = {}
        position = start
        while True:
            batch = self._recorder.select_notifications(
                start=position, limit=SCAN_LIMIT, inclusive_of_start=False
            )
            for notification in batch:
                session_id = UUID(str(notification.originator_id))
                heads[session_id] = max(heads.get(session_id, 0), notification.originator_version)
                position = notification.id
            if len(batch) < SCAN_LIMIT:
                return position, heads

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval_s)
            self.nudge(unwatched_too=True)

    async def _listen_forever(self, database_url: str, channel: str) -> None:
        """Hold one connection, reconnecting with backoff; LISTEN on it while a stream is open
        and nudge on every notification."""
        # Imported here: only a PostgreSQL store has a channel to listen on.
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        unlisten = sql.SQL("UNLISTEN {}").format(sql.Identifier(channel))
        delay = RECONNECT_MIN_S
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    database_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=LISTEN_APPLICATION_NAME,
                    # A peer that vanished without a FIN is noticed within about a minute.
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                ) as conn:
                    delay = RECONNECT_MIN_S
                    while True:
                        await self._until_watched()
                        await conn.execute(listen)
                        self.nudge(unwatched_too=True)  # whatever came before the LISTEN
                        async with contextlib.aclosing(conn.notifies()) as notifies:
                            async for _ in notifies:
                                if not self._watched():
                                    break
                                self.nudge()
                        await conn.execute(unlisten)
            except psycopg.Error as error:
                log.warning("live LISTEN connection lost (%s); retrying in %.1f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _until_watched(self) -> None:
        while not self._watched():
            self._streams_open.clear()
            await self._streams_open.wait()
