"""The "my sessions" view: for every user the sessions they belong to, with role, title, owner,
last activity, message count and how many turns wait for narration (the turn worker's to-do)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypedDict

from domain.roles import Role
from domain.session import CampaignSession as S
from projections.database import Cursor
from projections.dispatch import IGNORED, EventTable
from projections.my_sessions_batch import MEMBERS, MESSAGES, SESSIONS, RunFold, needs_sql

Fold = Callable[["MySessions", Cursor, str, Any], None]


class ListedOwner(TypedDict):
    user_id: str
    display_name: str | None


class SessionRow(TypedDict):
    """One session in a user's list (``sessions_of``)."""

    session_id: str
    title: str
    role: str
    owner: ListedOwner | None
    last_activity_at: str
    message_count: int


class MySessions:
    name = "my_sessions"

    def create_tables(self, cur: Cursor) -> None:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {SESSIONS} (session_id TEXT PRIMARY KEY, title TEXT NOT NULL,"
            " owner_id TEXT, owner_name TEXT, created_at TEXT NOT NULL, last_activity_at TEXT NOT NULL,"
            " version BIGINT NOT NULL, message_count INTEGER NOT NULL DEFAULT 0,"
            " pending_turns INTEGER NOT NULL DEFAULT 0)"
        )
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MEMBERS} (user_id TEXT NOT NULL, session_id TEXT NOT NULL,"
            " role TEXT NOT NULL, display_name TEXT NOT NULL, PRIMARY KEY (user_id, session_id))"
        )
        # One row per message a player sees: a turn, its latest reply, a loose media item.
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MESSAGES} (session_id TEXT NOT NULL, ref TEXT NOT NULL,"
            " slot TEXT NOT NULL, version BIGINT NOT NULL, pending INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY (session_id, ref, slot))"
        )

    def clear(self, cur: Cursor) -> None:
        for table in (SESSIONS, MEMBERS, MESSAGES):
            cur.execute(f"DELETE FROM {table}")

    def apply(self, cur: Cursor, event: Any) -> None:
        handler = self.HANDLERS.handler(event)
        sid = str(event.originator_id)
        if not isinstance(event, S.SessionStarted):  # it makes the row instead
            cur.execute(
                f"UPDATE {SESSIONS} SET last_activity_at = %s, version = %s WHERE session_id = %s",
                (event.timestamp.isoformat(), event.originator_version, sid),
            )
        if handler is not None:
            handler(self, cur, sid, event)

    def apply_batch(self, cur: Cursor, events: Sequence[Any]) -> None:
        """Apply ``events`` in order, leaving the same rows as ``apply`` one by one: runs of
        events are folded in memory and written in bulk (``my_sessions_batch``)."""
        run: list[Any] = []
        for event in events:
            self.HANDLERS.handler(event)  # an undeclared type fails here, as in ``apply``
            if needs_sql(event):
                self._write_run(cur, run)
                run = []
                self.apply(cur, event)
            else:
                run.append(event)
        self._write_run(cur, run)

    @staticmethod
    def _write_run(cur: Cursor, events: Sequence[Any]) -> None:
        if events:
            RunFold(cur, events).write()

    def _on_SessionStarted(self, cur: Cursor, sid: str, event: S.SessionStarted) -> None:
        at = event.timestamp.isoformat()
        cur.execute(
            f"INSERT INTO {SESSIONS} (session_id, title, owner_id, owner_name, created_at,"
            " last_activity_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (session_id) DO NOTHING",
            (sid, event.title, event.owner, event.owner_name, at, at, event.originator_version),
        )
        if event.owner is not None:
            self._member(cur, sid, event.owner, Role.OWNER, event.owner_name or event.owner)
        if event.origin.get("kind") == "fork":
            self._inherit(cur, sid, str(event.origin["parent_id"]), int(event.origin["at_version"]))

    @staticmethod
    def _member(cur: Cursor, sid: str, user_id: str, role: str, name: str) -> None:
        cur.execute(
            f"INSERT INTO {MEMBERS} (user_id, session_id, role, display_name) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (user_id, session_id) DO UPDATE SET role = excluded.role,"
            " display_name = excluded.display_name",
            (user_id, sid, role, name),
        )

    @staticmethod
    def _count(cur: Cursor, sid: str, messages: int, pending: int) -> None:
        """Adjust the session's counters (kept incrementally: a recount per event is O(n²))."""
        if messages or pending:
            cur.execute(
                f"UPDATE {SESSIONS} SET message_count = message_count + %s,"
                " pending_turns = pending_turns + %s WHERE session_id = %s",
                (messages, pending, sid),
            )

    def _inherit(self, cur: Cursor, sid: str, parent: str, at_version: int) -> None:
        """A fork's history starts with its parent's up to the fork point: so do its messages,
        counting back from it (versions <= 0, which no rewind of the fork reaches). The fork
        point is quiet, so none of them waits for narration."""
        cur.execute(
            f"INSERT INTO {MESSAGES} (session_id, ref, slot, version, pending)"
            f" SELECT %s, ref, slot, version - %s, 0 FROM {MESSAGES}"
            " WHERE session_id = %s AND version <= %s ON CONFLICT DO NOTHING",
            (sid, at_version, parent, at_version),
        )
        cur.execute(f"SELECT count(*) FROM {MESSAGES} WHERE session_id = %s", (sid,))
        self._count(cur, sid, int(cur.fetchone()[0]), 0)

    def _message(
        self, cur: Cursor, sid: str, ref: str, slot: str, version: int, pending: bool
    ) -> None:
        """Count a message the first time its slot appears. A row keeps the version it first
        appeared at (a retried turn's new reply replaces the old one in the same slot), so a
        rewind removes exactly the messages that did not exist yet at its target version."""
        cur.execute(
            f"SELECT pending FROM {MESSAGES} WHERE session_id = %s AND ref = %s AND slot = %s",
            (sid, ref, slot),
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(
                f"INSERT INTO {MESSAGES} (session_id, ref, slot, version, pending)"
                " VALUES (%s, %s, %s, %s, %s)",
                (sid, ref, slot, version, int(pending)),
            )
            self._count(cur, sid, 1, int(pending))
        elif int(row[0]) != int(pending):
            cur.execute(
                f"UPDATE {MESSAGES} SET pending = %s"
                " WHERE session_id = %s AND ref = %s AND slot = %s",
                (int(pending), sid, ref, slot),
            )
            self._count(cur, sid, 0, int(pending) - int(row[0]))

    def _turn_pending(self, cur: Cursor, sid: str, turn_id: str, pending: bool) -> None:
        cur.execute(
            f"SELECT pending FROM {MESSAGES} WHERE session_id = %s AND ref = %s AND slot = 'turn'",
            (sid, turn_id),
        )
        row = cur.fetchone()
        if row is not None and int(row[0]) != int(pending):
            cur.execute(
                f"UPDATE {MESSAGES} SET pending = %s WHERE session_id = %s AND ref = %s"
                " AND slot = 'turn'",
                (int(pending), sid, turn_id),
            )
            self._count(cur, sid, 0, 1 if pending else -1)

    def _on_SessionRenamed(self, cur: Cursor, sid: str, e: S.SessionRenamed) -> None:
        cur.execute(f"UPDATE {SESSIONS} SET title = %s WHERE session_id = %s", (e.title, sid))

    # Membership in SQL, as domain.session.fold_member folds it: a join or role change upserts
    # the member, an owner's also names the session's owner, a removal deletes the member.

    def _on_MemberJoined(self, cur: Cursor, sid: str, e: S.MemberJoined) -> None:
        self._member(cur, sid, e.user_id, e.role, e.display_name)
        if e.role == Role.OWNER:
            cur.execute(
                f"UPDATE {SESSIONS} SET owner_id = %s, owner_name = %s WHERE session_id = %s",
                (e.user_id, e.display_name, sid),
            )

    def _on_MemberRoleChanged(self, cur: Cursor, sid: str, e: S.MemberRoleChanged) -> None:
        cur.execute(
            f"UPDATE {MEMBERS} SET role = %s WHERE user_id = %s AND session_id = %s",
            (e.role, e.user_id, sid),
        )
        if e.role == Role.OWNER:
            cur.execute(
                f"UPDATE {SESSIONS} SET owner_id = %s, owner_name = (SELECT display_name FROM"
                f" {MEMBERS} WHERE user_id = %s AND session_id = %s) WHERE session_id = %s",
                (e.user_id, e.user_id, sid, sid),
            )

    def _on_MemberRemoved(self, cur: Cursor, sid: str, e: S.MemberRemoved) -> None:
        cur.execute(
            f"DELETE FROM {MEMBERS} WHERE user_id = %s AND session_id = %s", (e.user_id, sid)
        )

    def _on_TurnSubmitted(self, cur: Cursor, sid: str, e: S.TurnSubmitted) -> None:
        self._message(cur, sid, str(e.turn_id), "turn", e.originator_version, not e.held)

    def _settled(self, cur: Cursor, sid: str, turn_id: str, version: int) -> None:
        self._turn_pending(cur, sid, turn_id, False)
        self._message(cur, sid, turn_id, "reply", version, False)

    def _on_NarrationCompleted(self, cur: Cursor, sid: str, e: S.NarrationCompleted) -> None:
        self._settled(cur, sid, str(e.turn_id), e.originator_version)

    def _on_NarrationFailed(self, cur: Cursor, sid: str, e: S.NarrationFailed) -> None:
        self._settled(cur, sid, str(e.turn_id), e.originator_version)

    def _on_NarrationRequested(self, cur: Cursor, sid: str, e: S.NarrationRequested) -> None:
        self._turn_pending(cur, sid, str(e.turn_id), True)

    def _on_TimelineRewound(self, cur: Cursor, sid: str, e: S.TimelineRewound) -> None:
        # The messages first seen after ``to_version`` are the ones domain.session's
        # hidden_by_rewind hides. Rewinds land only on quiet versions, so no turn that stays
        # visible is pending.
        cur.execute(
            f"SELECT count(*), coalesce(sum(pending), 0) FROM {MESSAGES}"
            " WHERE session_id = %s AND version > %s",
            (sid, e.to_version),
        )
        removed, removed_pending = (int(v) for v in cur.fetchone())
        cur.execute(
            f"DELETE FROM {MESSAGES} WHERE session_id = %s AND version > %s",
            (sid, e.to_version),
        )
        cur.execute(
            f"SELECT coalesce(sum(pending), 0) FROM {MESSAGES} WHERE session_id = %s", (sid,)
        )
        still_pending = int(cur.fetchone()[0])
        cur.execute(f"UPDATE {MESSAGES} SET pending = 0 WHERE session_id = %s", (sid,))
        self._count(cur, sid, -removed, -removed_pending - still_pending)

    def _on_MediaStored(self, cur: Cursor, sid: str, e: S.MediaStored) -> None:
        # Imported legacy images belong to the session, not to its transcript.
        if e.turn_id is None and e.legacy is None:
            self._message(cur, sid, str(e.media_id), "media", e.originator_version, False)

    # Messages without an id of their own are named by session and version: a fork inherits
    # its parent's rows, and its own versions count from 1 again, so a bare version would clash.

    def _on_MessagePosted(self, cur: Cursor, sid: str, e: S.MessagePosted) -> None:
        ref = f"{sid}/{e.originator_version}"
        self._message(cur, sid, ref, "message", e.originator_version, False)

    def _on_MediaGenerationFailed(self, cur: Cursor, sid: str, e: S.MediaGenerationFailed) -> None:
        # History shows the failure as a system note: count it like any message.
        ref = f"{sid}/{e.originator_version}"
        self._message(cur, sid, ref, "media_failed", e.originator_version, False)

    HANDLERS: ClassVar[EventTable[Fold]] = EventTable(
        name,
        {
            S.SessionStarted: _on_SessionStarted,
            S.SessionRenamed: _on_SessionRenamed,
            S.MemberJoined: _on_MemberJoined,
            S.MemberRoleChanged: _on_MemberRoleChanged,
            S.MemberRemoved: _on_MemberRemoved,
            S.TurnSubmitted: _on_TurnSubmitted,
            S.NarrationRequested: _on_NarrationRequested,
            S.NarrationCompleted: _on_NarrationCompleted,
            S.NarrationFailed: _on_NarrationFailed,
            S.TimelineRewound: _on_TimelineRewound,
            S.MessagePosted: _on_MessagePosted,
            S.MediaStored: _on_MediaStored,
            S.MediaGenerationFailed: _on_MediaGenerationFailed,
            # Only the session's activity, which ``apply`` notes for every event: invites,
            # campaign state and imported artefacts are no message and change no membership.
            S.InviteIssued: IGNORED,
            S.InviteRevoked: IGNORED,
            S.CharacterCreated: IGNORED,
            S.CharacterChanged: IGNORED,
            S.CharacterRetired: IGNORED,
            S.SceneEntered: IGNORED,
            S.CombatStarted: IGNORED,
            S.CombatUpdated: IGNORED,
            S.CombatEnded: IGNORED,
            S.GameStateRecorded: IGNORED,
            S.LegacyArtifactPreserved: IGNORED,
        },
    )


def sessions_of(cur: Cursor, user_id: str) -> list[SessionRow]:
    """The sessions ``user_id`` belongs to, most recently active first."""
    cur.execute(
        f"SELECT s.session_id, s.title, m.role, s.owner_id, s.owner_name, s.last_activity_at,"
        f" s.message_count FROM {MEMBERS} m JOIN {SESSIONS} s ON s.session_id = m.session_id"
        " WHERE m.user_id = %s ORDER BY s.last_activity_at DESC, s.session_id",
        (user_id,),
    )
    return [
        SessionRow(
            session_id=row[0],
            title=row[1],
            role=row[2],
            owner=ListedOwner(user_id=row[3], display_name=row[4]) if row[3] else None,
            last_activity_at=row[5],
            message_count=int(row[6]),
        )
        for row in cur.fetchall()
    ]


def sessions_with_pending_turns(cur: Cursor) -> list[str]:
    cur.execute(
        f"SELECT session_id FROM {SESSIONS} WHERE pending_turns > 0 ORDER BY last_activity_at"
    )
    return [row[0] for row in cur.fetchall()]
