"""The sessions this process loaded or wrote last, kept as live aggregates so that a command
costs the same at the ten-thousandth event as at the tenth: no replay and no copy per command.

A session is taken out while one writer (or reader) of this process uses it, under the write
loop's lock for that session, and put back only once the use ended well: whatever fails in
between (a command that raised, a save that lost a race or never reached the store) leaves it
out, and the next use loads it afresh from the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from domain.session import CampaignSession


class LoadedSessions:
    """At most ``size`` sessions, the least recently used dropped first (0 keeps none)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._guard = threading.Lock()
        self._sessions: OrderedDict[UUID, CampaignSession] = OrderedDict()

    def take(self, session_id: UUID) -> CampaignSession | None:
        """The session as this process left it, now the caller's alone; None if not kept."""
        with self._guard:
            return self._sessions.pop(session_id, None)

    def keep(self, session: CampaignSession) -> None:
        """Keep ``session`` (with no pending events) for the next use."""
        if not self._size:
            return
        with self._guard:
            self._sessions[session.id] = session
            while len(self._sessions) > self._size:
                self._sessions.popitem(last=False)

    def clear(self) -> None:
        with self._guard:
            self._sessions.clear()
