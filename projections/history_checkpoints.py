"""Stored states of the history fold (``SessionView``) at versions that are multiples of
``EVERY``, kept in the view database, so that a session's view at a version folds only the
events after the nearest one instead of its whole stream.

A checkpoint is keyed by (session, version) and holds ``FOLD_VERSION`` (rows of another fold
are never used) and the SHA-256 of the stored event at its version, checked against the store
before use: a stream replaced under the same id does not read a stale state. A row that does
not decode, or a view database out of reach, is logged and the full fold is used instead.
Rows are written by one background thread, off the request that folded them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final
from uuid import UUID

import orjson

from projections.campaign import CampaignView
from projections.database import ViewDatabase
from projections.history import FOLD_VERSION, SessionView

log = logging.getLogger(__name__)

EVERY: Final = 1000  # versions between checkpoints
# Checkpoints waiting for the writer at most (each holds a whole history): more are not kept,
# and a later fold from their nearest checkpoint saves them again.
MAX_WAITING: Final = 8
TABLE: Final = "gaia_history_checkpoints"


def event_hash(state: bytes) -> str:
    """What a checkpoint remembers of the stored event at its version."""
    return hashlib.sha256(state).hexdigest()


def encode(view: SessionView) -> bytes:
    """``view``'s fold state (not a fork's inherited history, which is read at each build).
    Raises ``TypeError`` for what JSON cannot carry exactly (a caller folds only events that
    orjson read itself, see ``StoredRecords.record_and_plain``, so this is a safeguard)."""
    index = {id(message): n for n, message in enumerate(view.messages)}
    return orjson.dumps(
        {
            "title": view.title,
            "owner": view.owner,
            "origin": view.origin,
            "settings": view.settings,
            "created_at": view.created_at,
            "members": view.members,
            "blocked": sorted(view.blocked),
            "invites": view.invites,
            "media": view.media,
            "messages": view.messages,
            "hidden": view.hidden,
            "turns": {turn_id: index[id(m)] for turn_id, m in view._turn_message.items()},
            "log": view.campaign.log,
            "legacy": view.campaign.legacy,
        }
    )


def decode(session_id: UUID, version: int, blob: bytes | str) -> SessionView:
    """The view that ``encode`` stored; raises on a row it did not write."""
    state: dict[str, Any] = orjson.loads(blob)
    messages: list[dict[str, Any]] = state["messages"]
    return SessionView(
        session_id=session_id,
        version=version,
        title=state["title"],
        owner=state["owner"],
        origin=state["origin"],
        settings=state["settings"],
        created_at=state["created_at"],
        members=state["members"],
        blocked=set(state["blocked"]),
        invites=state["invites"],
        media=state["media"],
        messages=messages,
        hidden=[(low, high) for low, high in state["hidden"]],
        campaign=CampaignView(log=state["log"], legacy=state["legacy"]),
        _turn_message={turn_id: messages[n] for turn_id, n in state["turns"].items()},
    )


class HistoryCheckpoints:
    """The checkpoint table of one view database, and the thread that writes to it."""

    def __init__(self, database: ViewDatabase, *, every: int = EVERY) -> None:
        self.every = every
        self._database = database
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-checkpoints")
        self._waiting = threading.BoundedSemaphore(MAX_WAITING)
        with database.ddl() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (session_id TEXT NOT NULL, "
                "version BIGINT NOT NULL, fold INTEGER NOT NULL, event_sha256 TEXT NOT NULL, "
                "state TEXT NOT NULL, PRIMARY KEY (session_id, version))"
            )

    def nearest(self, session_id: UUID, version: int) -> tuple[int, str, str] | None:
        """Version, event hash and state of the latest checkpoint of this fold at or below
        ``version``; None if there is none or the view database is out of reach."""
        try:
            with self._database.transaction() as cur:
                cur.execute(
                    f"SELECT version, event_sha256, state FROM {TABLE} "  # noqa: S608
                    "WHERE session_id = %s AND version <= %s AND fold = %s "
                    "ORDER BY version DESC LIMIT 1",
                    (str(session_id), version, FOLD_VERSION),
                )
                row = cur.fetchone()
        except self._database.unreachable:
            log.warning("history checkpoints out of reach; folding %s in full", session_id)
            return None
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def save(self, session_id: UUID, version: int, sha256: str, state: bytes) -> None:
        """Store a checkpoint in the background (replacing one of an older fold), unless
        ``MAX_WAITING`` wait already."""
        if not self._waiting.acquire(blocking=False):
            log.info("history checkpoint %s@%d not kept: the writer is behind", session_id, version)
            return
        self._writer.submit(self._write, session_id, version, sha256, state)

    def _write(self, session_id: UUID, version: int, sha256: str, state: bytes) -> None:
        self._waiting.release()
        try:
            with self._database.transaction() as cur:
                cur.execute(
                    f"INSERT INTO {TABLE} (session_id, version, fold, event_sha256, state) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id, version) DO UPDATE "
                    "SET fold = excluded.fold, event_sha256 = excluded.event_sha256, "
                    "state = excluded.state",
                    (str(session_id), version, FOLD_VERSION, sha256, state.decode()),
                )
        except Exception:
            log.exception("could not store the history checkpoint %s@%d", session_id, version)

    def flush(self) -> None:
        """Wait for the checkpoints handed to the writer so far."""
        self._writer.submit(lambda: None).result()

    def close(self) -> None:
        self._writer.shutdown(wait=True)
