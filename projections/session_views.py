"""Per-session views kept in memory: built from the stream on first access, then caught up
incrementally on every read, and pruned when idle.

A read always catches up to the stream's head first (one range scan of new events), so a view
is never behind a write that completed before the read began, on this instance or another; the
events this instance wrote are handed over as they commit and folded without that scan, and a
reader that needs no more than a version this instance wrote (the turn worker) skips the scan
once they bring the view there. A view folded afresh starts from the nearest stored checkpoint
(projections/history_checkpoints.py) and leaves new ones behind.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.adapters.stream_rows import StoredRow, pages
from domain.application import SessionNotFound, Sessions
from projections.gc_pause import collector_paused
from projections.history import SessionView
from projections.history_checkpoints import HistoryCheckpoints, decode, encode, event_hash
from projections.records import StoredRecords

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE: Final = 5000  # stored events read per query while folding
LATEST: Final = 2**62  # above every version: the head
# What the standard library writes for a float JSON has no word for: orjson would write null.
_NON_FINITE: Final = re.compile(rb"NaN|Infinity")


@dataclass
class _Entry:
    """One cached view, the lock that serialises its catching up, when it was last read, and
    the events this process wrote to the session since (``written``), not folded yet."""

    view: SessionView
    lock: threading.Lock
    last_used: float
    written: list[StoredRow] = field(default_factory=list)


class SessionViews:
    """A cache of ``SessionView`` objects over one Sessions application."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        idle_ttl_s: float = 30 * 60,
        clock: Callable[[], float] = time.monotonic,
        checkpoints: HistoryCheckpoints | None = None,
    ) -> None:
        self._sessions = sessions
        self._checkpoints = checkpoints
        self._records = StoredRecords(sessions.mapper)
        self._idle_ttl_s = idle_ttl_s
        self._clock = clock
        self._guard = threading.Lock()
        # Only sessions that exist stay here: an entry whose first read finds no stream is
        # dropped again, so that asking for ids that do not exist leaves nothing behind.
        self._entries: dict[UUID, _Entry] = {}

    def get(self, session_id: UUID, *, at_version: int | None = None) -> SessionView:
        """A snapshot of the view caught up to the stream's head (or built up to ``at_version``)."""
        if at_version is not None:
            return self._build(session_id, at_version)
        return self.read(session_id, SessionView.snapshot)

    def read_at(self, session_id: UUID, at_version: int, query: Callable[[SessionView], T]) -> T:
        """``query`` of the view built up to ``at_version``, which is gone again before the
        cycle collector runs: freed by reference counting alone, its objects leave nothing for
        the collector to walk (see projections.gc_pause). ``query`` must not keep the view."""
        with collector_paused():  # one pause with _build's, lasting until the view is gone
            view = self._build(session_id, at_version)
            answer = query(view)
            del view
        return answer

    def read(
        self,
        session_id: UUID,
        query: Callable[[SessionView], T],
        *,
        at_least: int | None = None,
    ) -> T:
        """``query`` of the view caught up to the stream's head, run while no one folds into it:
        no snapshot is copied. It must not change the view, nor hand out what a later fold
        changes in place.

        The events this process wrote since the last read are folded as they were handed to
        ``written``. With ``at_least`` (a version this process wrote), a view that then stands
        there answers without a read of the store: it may be behind another process's later
        writes, as any answer may be by the time it is used."""
        with self._guard:
            entry = self._entries.get(session_id)
            if entry is None:
                entry = _Entry(SessionView(session_id), threading.Lock(), 0.0)
                self._entries[session_id] = entry
            entry.last_used = self._clock()
        with entry.lock:
            try:
                self._fold_written(entry)
                if at_least is None or entry.view.version < at_least:
                    entry.view = self._catch_up(entry.view)
            except BaseException:
                if entry.view.version == 0:  # nothing known of it: not found, or not read
                    self._forget(session_id, entry)
                raise
            return query(entry.view)

    def written(self, session_id: UUID, stored: Sequence[StoredEvent]) -> None:
        """Keep the events this process has just committed to the session (in version order,
        as ``SessionWrites.on_recorded`` hands them), for its view to fold at its next read
        without reading them back; only for a view somebody reads, and at most ``PAGE``."""
        with self._guard:
            entry = self._entries.get(session_id)
            if entry is None:
                return
            if len(entry.written) + len(stored) > PAGE:  # nobody reads it: the store will do
                entry.written.clear()
                return
            entry.written.extend((e.topic, e.state, e.originator_version) for e in stored)

    def _fold_written(self, entry: _Entry) -> None:
        """Fold into the entry's view (its lock held) the rows ``written`` kept that continue
        it from its version on; past a gap (an event another process wrote, or rows dropped),
        and into a view not folded yet, a read of the store does it instead."""
        with self._guard:
            rows, entry.written = entry.written, []
        view = entry.view
        if not view.version:
            return
        ignored, record = view.HANDLERS.ignored_topics, self._records.row_record_and_plain
        for topic, state, version in rows:
            if version <= view.version:
                continue  # folded already, from the store
            if version != view.version + 1:
                return
            if topic in ignored:
                view.pass_over(version)
            else:
                view.apply_record(record(view.session_id, topic, state, version)[0])

    def cached(
        self,
        session_id: UUID,
        query: Callable[[SessionView], T],
        *,
        at_least: int | None = None,
    ) -> T | None:
        """``query`` of the view as this process holds it, without reading the store; None
        when no view of the session is at hand or a fold into it is under way. Never waits:
        for an event loop.

        It may be behind the stream: only for an answer that something later checks against
        the stored session, as a write does, or (``at_least``) one that needs no more than a
        version this process wrote: the events it wrote are then folded first, and a view
        short of that version gives None."""
        with self._guard:
            entry = self._entries.get(session_id)
        if entry is None or not entry.lock.acquire(blocking=False):
            return None
        try:
            if at_least is not None:
                self._fold_written(entry)
            view = entry.view
            if not view.version or (at_least is not None and view.version < at_least):
                return None
            return query(view)
        finally:
            entry.lock.release()

    def _forget(self, session_id: UUID, entry: _Entry) -> None:
        with self._guard:
            if self._entries.get(session_id) is entry:
                del self._entries[session_id]

    def _catch_up(self, view: SessionView, until: int | None = None) -> SessionView:
        """``view`` folded up to ``until`` (the head); a view not folded yet may come back as
        another one, started from a checkpoint."""
        first = view.version == 0
        if first:
            view = self._from_checkpoint(view.session_id, until) or view
        self._fold(view, until, checkpoint=first and self._checkpoints is not None)
        if view.version == 0:
            raise SessionNotFound("session not found", session_id=str(view.session_id))
        if first and view.origin.get("kind") == "fork":
            try:
                self._inherit(view)
            except Exception:  # a fork start older code stored badly, or a parent now gone
                # The fork's own history still reads; only what it inherits is missing.
                log.exception("could not inherit the parent history of fork %s", view.session_id)
        return view

    def _from_checkpoint(self, session_id: UUID, until: int | None) -> SessionView | None:
        """The view at the nearest checkpoint at or below ``until``, if one is stored for this
        fold and the stored event at its version is still the one it saw."""
        if self._checkpoints is None or (until is not None and until < self._checkpoints.every):
            return None  # none stored, or none can stand that early
        found = self._checkpoints.nearest(session_id, LATEST if until is None else until)
        if found is None:
            return None
        version, sha256, state = found
        stored = self._sessions.recorder.select_events(
            session_id, gt=version - 1, lte=version, limit=1
        )
        if not stored or event_hash(stored[0].state) != sha256:
            log.warning("the history checkpoint %s@%d is stale; folding anew", session_id, version)
            return None
        try:
            return decode(session_id, version, state)
        except Exception:
            log.exception("the history checkpoint %s@%d does not decode", session_id, version)
            return None

    def _fold(self, view: SessionView, until: int | None, *, checkpoint: bool = False) -> None:
        """Fold the stored events after ``view.version`` (up to ``until``) into ``view``, read
        ``PAGE`` at a time as plain rows, one query each.

        Each event is read straight from its stored JSON into its record (the library's way only
        for those that need it, see ``StoredRecords``); events of the topics the view ignores
        are gone past without being decoded. With ``checkpoint`` (a fold from version 0 or from
        a checkpoint) the state at the last multiple of its ``every`` in each page is stored, while
        every event folded so far holds only values that JSON carries exactly.
        """
        ignored, record = view.HANDLERS.ignored_topics, self._records.row_record_and_plain
        read = self._records.rows(self._sessions.recorder)
        session_id, last = view.session_id, LATEST if until is None else until
        checkpoints = self._checkpoints if checkpoint else None
        every = checkpoints.every if checkpoints else 1
        start, exact = view.version, checkpoints is not None
        for page in pages(read, session_id, start, last, PAGE):
            mark = page[-1][2] // every * every if exact else 0
            for topic, state, version in page:
                if topic in ignored:
                    view.pass_over(version)
                else:
                    exact = exact and not _NON_FINITE.search(state)
                    view.apply_record(record(session_id, topic, state, version)[0])
                if checkpoints and exact and version == mark > start:
                    _save(checkpoints, view, state)

    def _build(self, session_id: UUID, at_version: int) -> SessionView:
        with collector_paused():  # a view kept for one answer: see projections.gc_pause
            return self._catch_up(SessionView(session_id), until=at_version)

    def _inherit(self, view: SessionView) -> None:
        """A fork's history begins with its parent's history up to the fork point.

        Inherited messages get ``version`` = parent version - fork version (so <= 0): they sort
        before the fork's own messages and page by the same cursor.
        """
        parent_id = UUID(view.origin["parent_id"])
        at_version = int(view.origin["at_version"])
        parent = self._build(parent_id, at_version)
        view.inherited = [
            message
            | {
                "version": message["version"] - at_version,
                "inherited_from": {"session_id": str(parent_id), "version": message["version"]},
            }
            for message in parent.visible_messages()
        ]
        # Live campaign state comes with the fork's own events (CampaignSession.inherit_campaign);
        # what the parent imported from a legacy campaign is read through, as its history is.
        # Version 0: it stood before the fork's first event, so no rewind of the fork drops it.
        view.campaign.legacy = {
            kind: {key: [[0, entries[-1][1]]] for key, entries in keys.items()}
            for kind, keys in parent.campaign.legacy.items()
        }

    def prune(self) -> int:
        """Drop views idle for longer than the TTL; returns how many were dropped."""
        cutoff = self._clock() - self._idle_ttl_s
        with self._guard:
            idle = [sid for sid, entry in self._entries.items() if entry.last_used < cutoff]
            for session_id in idle:
                del self._entries[session_id]
        return len(idle)

    def __len__(self) -> int:
        """How many sessions the cache remembers anything about."""
        return len(self._entries)


def _save(checkpoints: HistoryCheckpoints, view: SessionView, stored_state: bytes) -> None:
    """Hand ``view``'s state to the checkpoint writer (the stored event it stands at: its last)."""
    try:
        state = encode(view)
    except TypeError:
        log.exception("the history of %s@%d has no checkpoint", view.session_id, view.version)
        return
    checkpoints.save(view.session_id, view.version, event_hash(stored_state), state)
