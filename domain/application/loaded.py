"""The sessions this process loaded or wrote last, kept as live aggregates so that a command
costs the same at the ten-thousandth event as at the tenth: no replay and no copy per command.

A session is taken out while one writer (or reader) of this process uses it, under the write
loop's lock for that session, and put back only once the use ended well: whatever fails in
between (a command that raised, a save that lost a race or never reached the store) leaves it
out, and the next use loads it afresh from the store.

A loaded session is mostly saved without the store's lock (``UNLOCKED_RUN`` saves in a row,
then one with it, where other processes may wait for that lock), until a save of it loses a
race with another process; from then on, for ``CONTENDED_FOR_S``, its writers take the lock
(see ``SessionWrites._update``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final
from uuid import UUID

from domain.session import CampaignSession

# Saves of one loaded session in a row without the store's lock; the next one takes it. A
# writer of another process queued on the lock thus loses at most this many races to this one
# (its write loop tries ``writes.DEFAULT_ATTEMPTS`` times).
UNLOCKED_RUN: Final = 8
# After a save lost to another process, the session's writers take the lock for this long.
CONTENDED_FOR_S: Final = 60.0
CONTENDED_MAX: Final = 10_000  # sessions remembered as contended (more: written as any other)


class LoadedSessions:
    """At most ``size`` sessions, the least recently used dropped first (0 keeps none).

    ``unlocked_run``: saves of one session in a row without the store's lock (None: no limit,
    for a store whose lock no other process waits for, where taking it would only cost a read
    to catch up)."""

    def __init__(
        self,
        size: int,
        *,
        unlocked_run: int | None = UNLOCKED_RUN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._size = size
        self._unlocked_run = unlocked_run
        self._guard = threading.Lock()
        self._sessions: OrderedDict[UUID, CampaignSession] = OrderedDict()
        self._clock = clock
        self._unlocked: dict[UUID, int] = {}  # saves without the lock since the last with it
        self._contended: dict[UUID, float] = {}  # session id -> until when

    def take(self, session_id: UUID) -> CampaignSession | None:
        """The session as this process left it, now the caller's alone; None if not kept."""
        with self._guard:
            return self._sessions.pop(session_id, None)

    def take_to_save_unlocked(self, session_id: UUID) -> CampaignSession | None:
        """``take``, if the session may be saved without the store's lock: not ``contended``
        lately, and fewer than ``unlocked_run`` such saves in a row."""
        with self._guard:
            until = self._contended.get(session_id)
            if until is not None:
                if until > self._clock():
                    return None
                del self._contended[session_id]
            run = self._unlocked_run
            if run is not None and self._unlocked.get(session_id, 0) >= run:
                return None
            return self._sessions.pop(session_id, None)

    def contended(self, session_id: UUID) -> None:
        """Another process wrote the session meanwhile: its writers take the store's lock for
        ``CONTENDED_FOR_S``."""
        with self._guard:
            now = self._clock()
            if len(self._contended) >= CONTENDED_MAX:
                self._contended = {k: t for k, t in self._contended.items() if t > now}
            if len(self._contended) < CONTENDED_MAX:
                self._contended[session_id] = now + CONTENDED_FOR_S

    def keep(self, session: CampaignSession, *, saved_unlocked: bool | None = None) -> None:
        """Keep ``session`` (with no pending events) for the next use; ``saved_unlocked``: it
        was just saved without the store's lock (True) or with it (False)."""
        if not self._size:
            return
        with self._guard:
            self._sessions[session.id] = session
            if saved_unlocked is False:
                self._unlocked.pop(session.id, None)
            elif saved_unlocked and self._unlocked_run is not None:  # counted where limited
                self._unlocked[session.id] = self._unlocked.get(session.id, 0) + 1
            while len(self._sessions) > self._size:
                dropped, _ = self._sessions.popitem(last=False)
                self._unlocked.pop(dropped, None)
            if len(self._unlocked) > 2 * self._size:  # counts of sessions no longer kept
                self._unlocked = {k: n for k, n in self._unlocked.items() if k in self._sessions}

    def clear(self) -> None:
        with self._guard:
            self._sessions.clear()
            self._unlocked.clear()
            self._contended.clear()
