"""The media part of a running service: the store, the media index view, the optional generator,
and the one way bytes become a ``MediaStored`` event (object first, then the event); the
composition root (``api.composition``) builds and connects them.

Writing the object before the event means an event never names missing bytes. If the event is
then refused (the caller was removed meanwhile, the event store is down), the object stays
unreferenced: harmless, since identical bytes map to the same key, and never a leak of data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

from anyio import to_thread

from api.media.generation import MediaGenerator
from api.settings import Settings
from domain.adapters.media import MediaStore
from domain.application import Sessions, Written
from domain.media import MediaType, storage_key, upload_filename
from projections.database import ViewDatabase
from projections.media_index import IndexedMedia, media_named
from projections.updater import ViewUpdater


class UploadCounts:
    """How uploads ended (stored, refused, aborted), for operations and for tests that wait for
    a request to finish."""

    def __init__(self) -> None:
        self._counts = dict.fromkeys(("stored", "refused", "aborted"), 0)
        self._changed = threading.Condition()

    def __getitem__(self, outcome: str) -> int:
        with self._changed:
            return self._counts[outcome]

    def count(self, outcome: str) -> None:
        with self._changed:
            self._counts[outcome] += 1
            self._changed.notify_all()

    def wait_for(self, outcome: str, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._counts[outcome] >= count, timeout)


@dataclass(frozen=True)
class Saved:
    media_id: UUID
    filename: str
    storage_key: str
    written: Written


class MediaWriter:
    """The one way bytes become a ``MediaStored`` event: the object first, then the event. Uploads
    and the generator both write through it."""

    def __init__(self, store: MediaStore, sessions: Sessions) -> None:
        self.store = store
        self.sessions = sessions

    def save(
        self,
        *,
        session_id: UUID,
        actor: str | None,
        media_type: MediaType,
        sha256: str,
        size: int,
        source: str,
        path: Path | None = None,
        data: bytes | None = None,
        turn_id: UUID | None = None,
    ) -> Saved:
        """Store the bytes (a file or in memory), then append ``MediaStored``; blocking."""
        key = storage_key(sha256)
        if path is not None:
            self.store.put_file(key, path, media_type.content_type)
        elif data is not None:
            self.store.put_bytes(key, data, media_type.content_type)
        else:
            raise ValueError("save needs a path or data")
        media_id = uuid4()
        filename = upload_filename(str(media_id), media_type)
        _, written = self.sessions.record_media(
            session_id=session_id,
            actor=actor,
            kind=media_type.kind,
            content_type=media_type.content_type,
            size=size,
            sha256=sha256,
            storage_key=key,
            filename=filename,
            source=source,
            turn_id=turn_id,
            media_id=media_id,
        )
        return Saved(media_id, filename, key, written)


class Media:
    """What the media routes use: the writer, the index of stored media, the generator (None when
    no provider is configured), and how uploads ended."""

    def __init__(
        self,
        *,
        settings: Settings,
        writer: MediaWriter,
        index: ViewUpdater,
        database: ViewDatabase,
        generator: MediaGenerator | None,
    ) -> None:
        self.settings = settings
        self.sessions = writer.sessions
        self.store = writer.store
        self.save = writer.save
        self.index = index
        self.database = database
        self.generator = generator
        self.uploads = UploadCounts()

    async def start(self) -> None:
        self.index.start()
        if self.generator is not None:
            self.generator.start()

    async def stop(self) -> None:
        if self.generator is not None:
            await self.generator.aclose()
        self.index.stop()

    async def named(self, filename: str, kind: str, *, wait_s: float) -> list[IndexedMedia]:
        """Index rows for ``filename``; on a miss, wait (bounded, holding no thread while it
        waits) for the index to catch up with the store."""
        rows, behind_head = await to_thread.run_sync(self._look_up, filename, kind)
        if rows or behind_head is None:
            return rows
        return await self._named_at(behind_head, filename, kind, wait_s)

    async def named_when_current(
        self, filename: str, kind: str, *, wait_s: float
    ) -> list[IndexedMedia]:
        """Index rows for ``filename`` once the index has every write stored so far (bounded
        wait): for a caller to whom none of ``named``'s rows belonged."""
        head = await to_thread.run_sync(self.sessions.max_position)
        return await self._named_at(head, filename, kind, wait_s)

    async def _named_at(
        self, position: int, filename: str, kind: str, wait_s: float
    ) -> list[IndexedMedia]:
        await self.index.wait_until(position, wait_s)
        return await to_thread.run_sync(self._rows, filename, kind)

    def _look_up(self, filename: str, kind: str) -> tuple[list[IndexedMedia], int | None]:
        """The rows, and on a miss the store's head if the index had not reached it yet."""
        # The position first: the index commits its rows before it moves the position, so a
        # miss read after it is a real miss up to that position, never a row not yet committed.
        applied = self.index.position
        rows = self._rows(filename, kind)
        if rows:
            return rows, None
        head = self.sessions.max_position()
        return rows, (head if applied < head else None)

    def _rows(self, filename: str, kind: str) -> list[IndexedMedia]:
        with self.database.transaction() as cur:
            return media_named(cur, filename, kind)
