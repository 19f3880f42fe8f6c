"""The write loop under every use case: load the session, apply one command, save; on a version
conflict with another process reload and apply it again, a bounded number of times.

Writers of one session are serialised inside this process by a lock per session. Between
commands the session stays loaded (``loaded.LoadedSessions``) and a command on it is saved at
once: the store refuses a version another process wrote first, so a copy that fell behind can
only lose the race. After such a loss, and for a session not loaded, writers take the store's
lock across processes (``StoreAccess.hold``), which queues them fairly and tells how far to
catch up. How long to wait between tries is the caller's choice (``Retries.pause``), so the
loop itself never sleeps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Repository,
    project_aggregate,
)
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    StoredEvent,
    Transcoder,
)

from domain import roles
from domain.application.group_commit import GroupCommit
from domain.application.loaded import UNLOCKED_RUN, LoadedSessions
from domain.application.ports import OneProcessStore, StoreFactory
from domain.application.results import Written
from domain.application.snapshots import SnapshotWriter
from domain.errors import NotFound, StoreUnavailable, VersionConflict
from domain.session import CampaignSession
from domain.transcoding import ReadSafeTranscoder

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_SNAPSHOT_INTERVAL: Final = 100
# A snapshot holds the whole session (every turn it saw), so it costs more to write as the session
# grows: the interval grows with it, keeping the events a load replays after the snapshot to
# about a twentieth of the session, about what reading the snapshot itself costs.
SNAPSHOT_SPACING: Final = 20
DEFAULT_ATTEMPTS: Final = 20

# Called after every committed write with (session id, version, position).
SavedListener = Callable[[UUID, int, int], None]
# Called after every committed write with the session id and its events as stored.
RecordedListener = Callable[[UUID, Sequence[StoredEvent]], None]


def snapshot_step(interval: int, version: int) -> int:
    """Versions between snapshots of a session at ``version``: ``interval`` until the session
    has ``SNAPSHOT_SPACING`` intervals of events, then a multiple of it, about a
    ``SNAPSHOT_SPACING``th of the session."""
    return interval * max(1, version // (interval * SNAPSHOT_SPACING))


class SessionNotFound(NotFound):
    code = "session_not_found"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _at_once(attempt: int) -> None:
    """Re-apply a command without waiting."""


@dataclass(frozen=True)
class Retries:
    """How many times a command is applied before giving up on a stream that keeps changing,
    and what to do after a try that lost the race (``pause(attempt)``, counting from 0)."""

    attempts: int = DEFAULT_ATTEMPTS
    pause: Callable[[int], None] = _at_once


AT_ONCE: Final = Retries()


class _InProcessLocks:
    """One lock per session id, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: UUID) -> Iterator[None]:
        with self._registered(key) as lock, lock:
            yield

    @contextmanager
    def try_hold(self, key: UUID) -> Iterator[bool]:
        """``hold`` if nobody holds the lock now (True), else at once without it (False)."""
        with self._registered(key) as lock:
            held = lock.acquire(blocking=False)
            try:
                yield held
            finally:
                if held:
                    lock.release()

    @contextmanager
    def _registered(self, key: UUID) -> Iterator[threading.Lock]:
        """The key's lock, kept while this caller may hold or wait for it."""
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            yield lock
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]


@contextmanager
def store_errors() -> Iterator[None]:
    """The library's connection errors as the domain's StoreUnavailable."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise StoreUnavailable("the event store is unavailable", reason=str(error)) from error


class SessionWrites(Application[UUID]):
    """Campaign sessions as event streams: reading them, and the loop that writes them."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        store: StoreFactory = OneProcessStore,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        clock: Callable[[], datetime] = utc_now,
        retries: Retries = AT_ONCE,
        on_saved: Iterable[SavedListener] = (),
    ) -> None:
        with store_errors():
            super().__init__(dict(env or {}))
            self._store = store(self.recorder)
        self._commits = GroupCommit(self.recorder)
        self.snapshot_interval = snapshot_interval
        self.clock = clock
        self.retries = retries
        self._locks = _InProcessLocks()
        self._loaded = LoadedSessions(
            int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 0),
            unlocked_run=UNLOCKED_RUN if self._store.locks_across_processes else None,
        )
        # Stores the snapshots off the write path; its thread starts with the first one.
        snapshots = self.snapshots
        self._snapshot_writer = None if snapshots is None else SnapshotWriter(snapshots.recorder)
        # Called after every committed write with (session id, version, position): views,
        # the turn worker and live streams wake up on it. They must be quick and not raise.
        self.on_saved: list[SavedListener] = list(on_saved)
        # Called with a session's events as stored, right after their commit and while the
        # session's writers still wait (so in version order): session views keep them to
        # fold without reading them back. They must be quick and not raise.
        self.on_recorded: list[RecordedListener] = []

    def construct_repository(self) -> Repository[UUID]:
        # No library cache: it copies the whole session on every get. The sessions this
        # process uses stay loaded in ``self._loaded`` instead, sized by the same setting.
        return Repository(event_store=self.events, snapshot_store=self.snapshots)

    def construct_transcoder(self) -> Transcoder:
        # Decoding that no stored event can break (domain/transcoding.py).
        transcoder: JSONTranscoder = ReadSafeTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _saved(self, written: Written) -> Written:
        for listener in self.on_saved:
            try:
                listener(written.session_id, written.version, written.position)
            except Exception:
                log.exception("on_saved listener failed")
        return written

    # -- the write loop ---------------------------------------------------------------------

    @contextmanager
    def _writing(self, session_id: UUID) -> Iterator[int | None]:
        """The session to this caller alone, in this process and across processes; yields its
        head version in the store when the lock tells it (else None)."""
        with self._locks.hold(session_id), self._store_lock(session_id) as head:
            yield head

    @contextmanager
    def _store_lock(self, session_id: UUID) -> Iterator[int | None]:
        """The store's lock on the session, across processes (``_writing`` without the lock of
        this process, for a caller that holds it already)."""
        with store_errors(), self._store.hold(session_id) as head:
            yield head

    @contextmanager
    def _holding(self, session_id: UUID) -> Iterator[CampaignSession]:
        """The session as stored now, for reading while its writers wait (it must not change)."""
        with self._writing(session_id) as head:
            session = self._current(session_id, head)
            yield session
            self._loaded.keep(session)

    def _current(
        self, session_id: UUID, head: int | None, at_least: int | None = None
    ) -> CampaignSession:
        """The session as stored now, for the caller holding its lock: the loaded one brought
        up to date with what other processes appended, else loaded from the store. With
        ``at_least``, a loaded session at that version or later is taken as it is."""
        session = self._loaded.take(session_id)
        if session is not None and head is not None and head < session.version:
            session = None  # the store is behind this process (restored?): trust the store
        if session is None:
            try:
                loaded: CampaignSession = self.repository.get(session_id)
            except AggregateNotFoundError:
                raise SessionNotFound("session not found", session_id=str(session_id)) from None
            return loaded
        if at_least is not None and session.version >= at_least:
            return session
        if head is None or head > session.version:
            newer = self.events.get(session_id, gt=session.version)
            session = project_aggregate(session, newer) or session
        return session

    def _update(
        self,
        session_id: UUID,
        command: Callable[[CampaignSession], T],
        *,
        unchanged_at: Callable[[T], int] | None = None,
    ) -> tuple[T, Written]:
        """Apply ``command`` and save; on a version conflict reload and apply it again.

        The loaded session, unless another process wrote it lately, is tried first without the
        store's lock (``_saved_unlocked``), else under it (``_saved_locked``). The session goes
        back to ``self._loaded`` only after a command that raised nothing and a save that
        succeeded (or was not needed).
        """
        with self._locks.hold(session_id):
            loaded = self._loaded.take_to_save_unlocked(session_id)
            done = self._saved_unlocked(loaded, command) if loaded is not None else None
            return done or self._saved_locked(session_id, command, unchanged_at)

    def _saved_locked(
        self,
        session_id: UUID,
        command: Callable[[CampaignSession], T],
        unchanged_at: Callable[[T], int] | None,
    ) -> tuple[T, Written]:
        """``command`` applied and saved under the store's lock, re-applied after each race
        lost to a process that does not take it (a bounded number of times)."""
        with self._store_lock(session_id) as head_now:
            head = head_now
            for attempt in range(self.retries.attempts):
                session = self._current(session_id, head)
                head = None  # after a lost race, the head is unknown: catch up by reading
                before = session.version
                result = command(session)
                if not session.pending_events:
                    self._loaded.keep(session)
                    # Nothing written: answer with the version the command names (a repeated
                    # turn's first version), else the session's current one.
                    version = unchanged_at(result) if unchanged_at else session.version
                    return result, self._written_at(session_id, version)
                try:
                    position = self._commit(session)
                except IntegrityError:
                    # Another process appended first: reload and re-apply.
                    self._loaded.contended(session_id)
                    self.retries.pause(attempt)
                    continue
                return result, self._kept_and_saved(session, before, position, unlocked=False)
        raise VersionConflict("the session kept changing; try again", session_id=str(session_id))

    def _saved_unlocked(
        self, session: CampaignSession, command: Callable[[CampaignSession], T]
    ) -> tuple[T, Written] | None:
        """``command`` applied to the loaded ``session`` and saved, without the store's lock;
        None when the copy cannot answer alone, and the caller asks again under the lock.

        A save that lands proves the copy was the stored head: its first version was free. A
        copy another process wrote past loses the save (the session is then contended), and
        a command that changes nothing or refuses is asked again where the head is known: a
        copy behind the store may answer it wrongly, and only a save would tell.
        """
        before = session.version
        try:
            result = command(session)
        except Exception:  # noqa: BLE001 - refused on this copy: asked again under the lock
            return None
        if not session.pending_events:
            self._loaded.keep(session)  # unchanged: the lock's head tells if it is current
            return None
        try:
            with store_errors():
                position = self._commit(session)
        except IntegrityError:
            self._loaded.contended(session.id)
            return None
        return result, self._kept_and_saved(session, before, position, unlocked=True)

    def _kept_and_saved(
        self, session: CampaignSession, before: int, position: int, *, unlocked: bool
    ) -> Written:
        """After ``session`` was saved from version ``before`` up to ``position`` (``unlocked``:
        without the store's lock): keep it loaded, snapshot it if due, tell the listeners."""
        self._loaded.keep(session, saved_unlocked=unlocked)
        self._snapshot_if_due(session, before)
        return self._saved(Written(session.id, session.version, position))

    def _create(self, session: CampaignSession, *, keep: bool = True) -> Written:
        """Save a new session; ``keep`` it loaded unless it was built past the commands' checks
        (its values must then be read back as the store gives them: see ``save_new``)."""
        with store_errors():
            position = self._commit(session)
        if keep:
            with self._locks.hold(session.id):
                self._loaded.keep(session)
        self._snapshot_if_due(session, 0)
        return self._saved(Written(session.id, session.version, position))

    def _commit(self, session: CampaignSession) -> int:
        """Store the session's pending events, committed with those of other sessions being
        written at the same time (``GroupCommit``); the position of the last one.

        What ``Application.save`` does for this application: no library cache or snapshotting
        intervals are configured (snapshots are ``_snapshot_if_due``'s) and no notify hook is
        overridden, so mapping the events and recording them is all there is to it.
        """
        stored = [self.mapper.to_stored_event(e) for e in session.collect_events()]
        position = self.record(stored)
        for listener in self.on_recorded:
            try:
                listener(session.id, stored)
            except Exception:
                log.exception("on_recorded listener failed")
        return position

    def record(self, stored: Sequence[StoredEvent]) -> int:
        """Commit one session's events, already encoded, with those of other sessions being
        written at the same time (``GroupCommit``); the position of the last one. Raises
        IntegrityError if one of their versions is stored already."""
        ids = self._commits.insert(stored)
        if not ids:
            raise RuntimeError("the event store gave no positions for the events it recorded")
        return ids[-1]

    def _snapshot_if_due(self, session: CampaignSession, before: int) -> None:
        """Snapshot the in-memory session when the save crossed a boundary of its step
        (``snapshot_step``).

        Done here rather than by the library so that no replay is needed and a failed
        snapshot (a later read simply replays more) never turns a committed write into an error.
        It is encoded here and stored by a thread of its own (``SnapshotWriter``).
        """
        interval, writer = self.snapshot_interval, self._snapshot_writer
        if not interval or writer is None:
            return
        step = snapshot_step(interval, session.version)
        if session.version // step == before // step:
            return
        try:
            # Encoded here, under the session's lock: the session changes right after. (The
            # snapshot store shares the application's mapper.)
            writer.put(self.mapper.to_stored_event(CampaignSession.Snapshot.take(session)))
        except Exception:
            log.exception("snapshot failed", extra={"session_id": str(session.id)})

    def wait_for_snapshots(self, timeout: float | None = None) -> None:
        """Block until the snapshots taken so far are stored (they are stored off the write
        path: ``snapshots.SnapshotWriter``)."""
        if self._snapshot_writer is not None:
            self._snapshot_writer.wait(timeout)

    def _written_at(self, session_id: UUID, version: int) -> Written:
        position = self._store.position_of(session_id, version)
        return Written(session_id, version, position or 0)

    # -- queries ----------------------------------------------------------------------------

    def get(self, session_id: UUID, *, version: int | None = None) -> CampaignSession:
        """The session now (a copy the caller may change), or as it was at ``version``."""
        if version is None:
            return self.read(session_id, deepcopy)
        with store_errors():
            try:
                session: CampaignSession = self.repository.get(session_id, version=version)
            except AggregateNotFoundError:
                raise SessionNotFound("session not found", session_id=str(session_id)) from None
        return session

    def read(
        self,
        session_id: UUID,
        query: Callable[[CampaignSession], T],
        *,
        at_least: int | None = None,
    ) -> T:
        """``query`` of the session as stored now; it must not change the session. With
        ``at_least`` (a version this process wrote), the loaded session answers without a
        read of the store once it stands there: it may then be behind another process's
        later writes, as any answer may be by the time it is used."""
        with self._locks.hold(session_id), store_errors():
            session = self._current(session_id, None, at_least)
            answer = query(session)
            self._loaded.keep(session)
        return answer

    def read_held(
        self, session_id: UUID, query: Callable[[CampaignSession], T], at_least: int
    ) -> T | None:
        """``query`` of the session as this process holds it loaded, if it stands at
        ``at_least`` (a version this process wrote) or later; None when it is not loaded, is
        behind, or a writer holds it now. Never waits and never reads the store: for an event
        loop. It may be behind another process's later writes, as in ``read``."""
        with self._locks.try_hold(session_id) as held:
            if not held:
                return None
            session = self._loaded.take(session_id)
            if session is None:
                return None
            try:
                return query(session) if session.version >= at_least else None
            finally:
                self._loaded.keep(session)

    def get_for(
        self, session_id: UUID, actor: str, needed: str = roles.SPECTATOR
    ) -> CampaignSession:
        """The session, if ``actor`` holds at least the ``needed`` role in it."""
        session = self.get(session_id)
        session.require(actor, needed)
        return session

    def max_position(self) -> int:
        with store_errors():
            return self.recorder.max_notification_id() or 0

    # -- the store's connections ------------------------------------------------------------

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died, once the database answers again; and
        read the loaded sessions afresh, as the database may come back restored to an earlier
        state (a copy ahead of the store would be saved past a gap: the lock-free save only
        knows that its first version was free)."""
        self._store.drop_broken_connections()
        self._loaded.clear()

    def close(self) -> None:
        self._loaded.clear()
        if self._snapshot_writer is not None:
            self._snapshot_writer.close()
        self._store.close()
        super().close()
