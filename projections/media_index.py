"""The media index: every stored media item of every session, found by its file name.

``GET /api/images/{filename}`` names a file without its session (legacy image names, and
``<media_id>.<ext>`` of uploads), so it needs a cross-session view. A fork gets its parent's
rows up to the fork point, as its history gets the parent's messages: not the ones a rewind of
the parent had hidden by then (the parent's members keep those, as its timeline does). A name
may belong to several sessions; the caller's membership decides which one answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from domain.session import CampaignSession as S
from projections.database import Cursor
from projections.dispatch import IGNORED, EventTable

MEDIA = "gaia_view_media"
HIDDEN = "gaia_view_media_hidden"  # rows a rewind of their session hid: never inherited
COLUMNS = "session_id, media_id, filename, kind, content_type, size, sha256, storage_key, version"


@dataclass(frozen=True)
class IndexedMedia:
    session_id: str
    media_id: str
    filename: str
    kind: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    version: int  # in the session's stream; <= 0 for rows a fork inherited


Fold = Callable[["MediaIndex", Cursor, Any], None]


class MediaIndex:
    name = "media_index"

    def create_tables(self, cur: Cursor) -> None:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MEDIA} (session_id TEXT NOT NULL, media_id TEXT NOT NULL,"
            " filename TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL,"
            " size BIGINT NOT NULL, sha256 TEXT NOT NULL, storage_key TEXT NOT NULL,"
            " version BIGINT NOT NULL, PRIMARY KEY (session_id, media_id))"
        )
        cur.execute(f"CREATE INDEX IF NOT EXISTS {MEDIA}_filename ON {MEDIA} (filename)")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {HIDDEN} (session_id TEXT NOT NULL,"
            " media_id TEXT NOT NULL, PRIMARY KEY (session_id, media_id))"
        )

    def clear(self, cur: Cursor) -> None:
        cur.execute(f"DELETE FROM {MEDIA}")
        cur.execute(f"DELETE FROM {HIDDEN}")

    @property
    def unread_topics(self) -> frozenset[str]:
        """Events the updater need not even decode: they change no row of this view."""
        return self.HANDLERS.ignored_topics

    def apply(self, cur: Cursor, event: Any) -> None:
        handler = self.HANDLERS.handler(event)
        if handler is not None:
            handler(self, cur, event)

    def _on_MediaStored(self, cur: Cursor, event: S.MediaStored) -> None:
        cur.execute(
            f"INSERT INTO {MEDIA} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (session_id, media_id) DO NOTHING",
            (
                str(event.originator_id),
                str(event.media_id),
                event.filename,
                event.kind,
                event.content_type,
                event.size,
                event.sha256,
                event.storage_key,
                event.originator_version,
            ),
        )

    def _on_TimelineRewound(self, cur: Cursor, event: S.TimelineRewound) -> None:
        cur.execute(
            f"INSERT INTO {HIDDEN} (session_id, media_id) SELECT session_id, media_id"
            f" FROM {MEDIA} WHERE session_id = %s AND version > %s"
            " ON CONFLICT DO NOTHING",
            (str(event.originator_id), event.to_version),
        )

    def _on_SessionStarted(self, cur: Cursor, event: S.SessionStarted) -> None:
        if event.origin.get("kind") != "fork":
            return
        at_version = int(event.origin["at_version"])
        # Inherited rows count back from the fork point, like inherited history messages.
        cur.execute(
            f"INSERT INTO {MEDIA} ({COLUMNS}) SELECT %s, media_id, filename, kind,"
            " content_type, size, sha256, storage_key, version - %s"
            f" FROM {MEDIA} m WHERE session_id = %s AND version <= %s AND NOT EXISTS"
            f" (SELECT 1 FROM {HIDDEN} h WHERE h.session_id = m.session_id"
            " AND h.media_id = m.media_id) ON CONFLICT (session_id, media_id) DO NOTHING",
            (str(event.originator_id), at_version, str(event.origin["parent_id"]), at_version),
        )

    HANDLERS: ClassVar[EventTable[Fold]] = EventTable(
        name,
        {
            S.SessionStarted: _on_SessionStarted,
            S.MediaStored: _on_MediaStored,
            S.TimelineRewound: _on_TimelineRewound,
            # Only stored media, and what hides or inherits it, make rows.
            S.SessionRenamed: IGNORED,
            S.TurnSubmitted: IGNORED,
            S.NarrationRequested: IGNORED,
            S.NarrationCompleted: IGNORED,
            S.NarrationFailed: IGNORED,
            S.MessagePosted: IGNORED,
            S.MediaGenerationFailed: IGNORED,
            S.InviteIssued: IGNORED,
            S.InviteRevoked: IGNORED,
            S.MemberJoined: IGNORED,
            S.MemberRoleChanged: IGNORED,
            S.MemberRemoved: IGNORED,
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


def media_named(cur: Cursor, filename: str, kind: str | None = None) -> list[IndexedMedia]:
    """Every session's media item called ``filename`` (of ``kind``, if given)."""
    sql = f"SELECT {COLUMNS} FROM {MEDIA} WHERE filename = %s"
    params: list[Any] = [filename]
    if kind is not None:
        sql += " AND kind = %s"
        params.append(kind)
    cur.execute(sql + " ORDER BY session_id, version", params)
    return [
        IndexedMedia(
            session_id=row[0],
            media_id=row[1],
            filename=row[2],
            kind=row[3],
            content_type=row[4],
            size=int(row[5]),
            sha256=row[6],
            storage_key=row[7],
            version=int(row[8]),
        )
        for row in cur.fetchall()
    ]
