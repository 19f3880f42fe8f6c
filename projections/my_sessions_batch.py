"""Folds a run of events into the "my sessions" tables in memory and writes the result with a
few bulk statements: the same rows ``MySessions.apply`` leaves event by event, at a fraction of
the round trips. The events that read other rows (a fork's inheritance, a rewind, a role change)
are left to ``MySessions.apply``; ``MySessions.apply_batch`` writes the run before them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.roles import Role
from domain.session import CampaignSession as S
from projections.database import Cursor

SESSIONS = "gaia_view_sessions"
MEMBERS = "gaia_view_members"
MESSAGES = "gaia_view_messages"

# What a session row gets from the run: the last activity and version, a new title or owner
# (None: unchanged), and how many messages and waiting turns to add.
_ACTIVITY, _VERSION, _TITLE, _OWNER_ID, _OWNER_NAME, _MESSAGES, _PENDING = range(7)


def needs_sql(event: Any) -> bool:
    """Whether ``event`` reads rows beyond its own, so is applied with SQL, not in a run."""
    if isinstance(event, S.SessionStarted):
        return event.origin.get("kind") == "fork"
    return isinstance(event, S.TimelineRewound | S.MemberRoleChanged)


def message_keys(event: Any, sid: str) -> list[tuple[str, str, str]]:
    """The message rows (session, ref, slot) folding ``event`` of session ``sid`` looks at."""
    if isinstance(event, S.TurnSubmitted | S.NarrationRequested):
        return [(sid, str(event.turn_id), "turn")]
    if isinstance(event, S.NarrationCompleted | S.NarrationFailed):
        ref = str(event.turn_id)
        return [(sid, ref, "turn"), (sid, ref, "reply")]
    if isinstance(event, S.MediaStored):
        return [(sid, str(event.media_id), "media")]
    if isinstance(event, S.MessagePosted):
        return [(sid, f"{sid}/{event.originator_version}", "message")]
    if isinstance(event, S.MediaGenerationFailed):
        return [(sid, f"{sid}/{event.originator_version}", "media_failed")]
    return []


class RunFold:
    """One run of events folded in memory; ``write`` stores it with bulk statements.

    Each event's session id and message keys are worked out once, for both the lookup of the
    stored rows and the fold (turning UUIDs into text is a good part of the fold's time).
    """

    def __init__(self, cur: Cursor, events: Sequence[Any]) -> None:
        self.cur = cur
        self.started: list[tuple[Any, ...]] = []
        self.sessions: dict[str, list[Any]] = {}
        self.members: dict[tuple[str, str], tuple[str, str] | None] = {}  # None: removed
        self.stored: dict[tuple[str, str, str], int] = {}  # message rows there were: pending
        self.messages: dict[tuple[str, str, str], list[int]] = {}  # rows now: [version, pending]
        keyed = []
        for event in events:
            sid = str(event.originator_id)
            keyed.append((event, sid, message_keys(event, sid)))
        self._prefetch(keyed)
        for event, sid, keys in keyed:
            self._add(event, sid, keys)

    def _prefetch(self, keyed: Sequence[tuple[Any, str, list[tuple[str, str, str]]]]) -> None:
        """Read the stored message rows the run's events look at, all in one lookup."""
        refs = {(sid, ref) for _event, _sid, keys in keyed for sid, ref, _slot in keys}
        found = self.cur.select_by_keys(
            MESSAGES,
            ("session_id", "ref", "slot", "version", "pending"),
            ("session_id", "ref"),
            refs,
        )
        for sid, ref, slot, version, pending in found:
            self.stored[(sid, ref, slot)] = int(pending)
            self.messages[(sid, ref, slot)] = [int(version), int(pending)]

    def _session(self, sid: str) -> list[Any]:
        row = self.sessions.get(sid)
        if row is None:
            row = self.sessions[sid] = [None, None, None, None, None, 0, 0]
        return row

    def _add(self, event: Any, sid: str, keys: list[tuple[str, str, str]]) -> None:
        """Fold one event that ``needs_sql`` leaves to the run; ``keys``: its message keys."""
        if isinstance(event, S.SessionStarted):
            at = event.timestamp.isoformat()
            self.started.append(
                (sid, event.title, event.owner, event.owner_name, at, at, event.originator_version)
            )
            if event.owner is not None:
                self.members[(event.owner, sid)] = (Role.OWNER, event.owner_name or event.owner)
            return
        row = self._session(sid)
        row[_ACTIVITY] = event.timestamp.isoformat()
        row[_VERSION] = event.originator_version
        version = event.originator_version
        if isinstance(event, S.SessionRenamed):
            row[_TITLE] = event.title
        elif isinstance(event, S.MemberJoined):
            self.members[(event.user_id, sid)] = (event.role, event.display_name)
            if event.role == Role.OWNER:
                row[_OWNER_ID], row[_OWNER_NAME] = event.user_id, event.display_name
        elif isinstance(event, S.MemberRemoved):
            self.members[(event.user_id, sid)] = None
        elif isinstance(event, S.TurnSubmitted):
            self._message(row, keys[0], version, pending=not event.held)
        elif isinstance(event, S.NarrationCompleted | S.NarrationFailed):
            turn, reply = keys
            self._turn_pending(row, turn, pending=False)
            self._message(row, reply, version, pending=False)
        elif isinstance(event, S.NarrationRequested):
            self._turn_pending(row, keys[0], pending=True)
        elif isinstance(event, S.MessagePosted | S.MediaGenerationFailed) or (
            # Imported legacy images belong to the session, not to its transcript.
            isinstance(event, S.MediaStored) and event.turn_id is None and event.legacy is None
        ):
            [key] = keys
            self._message(row, key, version, pending=False)

    def _message(
        self, row: list[Any], key: tuple[str, str, str], version: int, *, pending: bool
    ) -> None:
        found = self.messages.get(key)
        if found is None:
            self.messages[key] = [version, int(pending)]
            row[_MESSAGES] += 1
            row[_PENDING] += int(pending)
        elif found[1] != int(pending):
            row[_PENDING] += int(pending) - found[1]
            found[1] = int(pending)

    def _turn_pending(self, row: list[Any], key: tuple[str, str, str], *, pending: bool) -> None:
        found = self.messages.get(key)
        if found is not None and found[1] != int(pending):
            row[_PENDING] += int(pending) - found[1]
            found[1] = int(pending)

    def write(self) -> None:
        """Store the run: new sessions first, as their events came first."""
        cur = self.cur
        if self.started:
            cur.executemany(
                f"INSERT INTO {SESSIONS} (session_id, title, owner_id, owner_name, created_at,"
                " last_activity_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (session_id) DO NOTHING",
                self.started,
            )
        if self.sessions:
            cur.executemany(
                f"UPDATE {SESSIONS} SET last_activity_at = %s, version = %s,"
                " title = coalesce(%s, title), owner_id = coalesce(%s, owner_id),"
                " owner_name = coalesce(%s, owner_name),"
                " message_count = message_count + %s, pending_turns = pending_turns + %s"
                " WHERE session_id = %s",
                [(*r, sid) for sid, r in self.sessions.items()],
            )
        gone = [key for key, member in self.members.items() if member is None]
        if gone:
            cur.executemany(f"DELETE FROM {MEMBERS} WHERE user_id = %s AND session_id = %s", gone)
        joined = [(*key, *member) for key, member in self.members.items() if member is not None]
        if joined:
            cur.executemany(
                f"INSERT INTO {MEMBERS} (user_id, session_id, role, display_name)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, session_id) DO UPDATE SET"
                " role = excluded.role, display_name = excluded.display_name",
                joined,
            )
        changed = [
            (pending, *key)
            for key, (_version, pending) in self.messages.items()
            if key in self.stored and self.stored[key] != pending
        ]
        if changed:
            cur.executemany(
                f"UPDATE {MESSAGES} SET pending = %s"
                " WHERE session_id = %s AND ref = %s AND slot = %s",
                changed,
            )
        new = [
            (*key, version, pending)
            for key, (version, pending) in self.messages.items()
            if key not in self.stored
        ]
        if new:  # none there before the run (``_prefetch`` read them): no conflict possible
            cur.insert_rows(MESSAGES, ("session_id", "ref", "slot", "version", "pending"), new)
