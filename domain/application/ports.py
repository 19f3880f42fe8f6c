"""What the use cases need of the event store beyond the library's recorder, and the default
that serves a store only this process writes (the in-memory one).

The PostgreSQL and SQLite implementations live in ``domain.adapters.event_store``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Final, Protocol
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder


class StoreAccess(Protocol):
    """Positions of stored events, and the lock that keeps other processes off a stream."""

    @property
    def locks_across_processes(self) -> bool:
        """Whether ``hold`` takes a lock other processes wait for (else it yields None)."""

    def position_of(self, session_id: UUID, version: int) -> int | None:
        """The global position of the session's event at ``version``, or None if none is."""

    def hold(self, session_id: UUID) -> AbstractContextManager[int | None]:
        """Keep writers in other processes off the session until the block ends; gives the
        session's head version in the store (0: no events) if the lock learnt it, else None."""

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died, once the database answers again."""

    def close(self) -> None: ...


# The store is built on the recorder the library made from the application's settings.
StoreFactory = Callable[[ApplicationRecorder], StoreAccess]


class OneProcessStore:
    """For a store that no other process writes: no lock across processes, and positions
    read from the notification log, page by page (fine in memory; the database adapters
    look them up by index)."""

    PAGE: Final = 1000
    locks_across_processes = False

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self._recorder = recorder

    def position_of(self, session_id: UUID, version: int) -> int | None:
        start = 1
        while page := self._recorder.select_notifications(start, self.PAGE):
            for notification in page:
                if (
                    notification.originator_version == version
                    and UUID(str(notification.originator_id)) == session_id
                ):
                    return notification.id
            start = page[-1].id + 1
        return None

    @contextmanager
    def hold(self, session_id: UUID) -> Iterator[int | None]:
        yield None  # the write loop's in-process lock is all that one process needs

    def drop_broken_connections(self) -> None:
        pass  # nothing pooled

    def close(self) -> None:
        pass
