"""Writing a mapped campaign: its binaries into the media store, then its whole stream in one
transaction, so a campaign is either fully imported or absent (a killed run just starts over).
The snapshots of long streams follow in batches, one transaction for many campaigns.

A stream that already exists is compared by the fingerprint of its source files: the same
files mean ``already_imported`` and nothing is written; different files mean ``conflict``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent

from domain.adapters import event_store
from domain.adapters.config import is_postgres, sqlite_path, store_env
from domain.adapters.media import MediaCorrupt, MediaStore, put_checked
from domain.application import Sessions, store_errors
from domain.errors import GaiaError
from migrate_legacy.mapping import Plan
from migrate_legacy.model import (
    CONFLICT,
    STATUS_ALREADY,
    STATUS_CONFLICT,
    STATUS_REJECTED,
    WRITE_FAILED,
)
from migrate_legacy.prepare import Built, build
from migrate_legacy.sources import read_regular

log = logging.getLogger(__name__)
SNAPSHOTS_PER_COMMIT: Final = 50


@dataclass
class Outcome:
    """What the store said: the final status, and what was (or would be) written."""

    status: str
    written: int = 0
    version: int | None = None
    position: int | None = None
    reason: str | None = None  # write_failed or conflict, for the file rows
    detail: str = ""
    changes: dict[str, list[str]] = field(default_factory=dict)  # a conflict's changed files


def open_sessions(
    database_url: str | None, data_dir: Path, *, dry_run: bool, pool: int
) -> Sessions | None:
    """The store the job writes to; in a dry run a read-only look, or None if there is none."""
    if dry_run and not database_url and not sqlite_path(data_dir, Sessions.name).exists():
        return None  # nothing was imported there, and opening it would create the file
    env = store_env(database_url, data_dir, name="gaia", pool_size=pool, cache_size=0)
    if dry_run:
        env["GAIA_CREATE_TABLE"] = "n"
    return event_store.open_sessions(env)


class Importer:
    """Applies plans to one store and one media store; safe to call from several threads."""

    def __init__(
        self,
        sessions: Sessions | None,
        media: MediaStore | None,
        *,
        dry_run: bool,
        one_writer: bool,
    ) -> None:
        self.sessions = sessions
        self.media = media
        self.dry_run = dry_run
        # SQLite has one writer at a time anyway: queue here rather than in its lock timeout.
        self._write_lock: Any = threading.Lock() if one_writer else contextlib.nullcontext()
        self._snapshot_guard = threading.Lock()
        self._snapshots: list[StoredEvent] = []

    def apply(self, plan: Plan, built: Built | None = None) -> Outcome:
        """Write the plan's stream (``built`` already, else built here) unless it exists; a
        failure rejects this campaign only."""
        if plan.status == STATUS_REJECTED:
            return Outcome(STATUS_REJECTED)
        try:
            # A lost connection reads as the store being unavailable, as for every write.
            with store_errors():
                return self._apply(plan, built)
        except (GaiaError, MediaCorrupt, OSError, PersistenceError) as error:
            log.warning("campaign %s not written: %s", plan.legacy_id, error)
            return Outcome(STATUS_REJECTED, reason=WRITE_FAILED, detail=str(error)[:300])

    def _apply(self, plan: Plan, built: Built | None) -> Outcome:
        existing = self.stored_provenance(plan.stream_id)
        if existing is not None:
            return self._compare(plan, existing)
        if self.dry_run or self.sessions is None:
            return Outcome(plan.status, written=0)
        built = built or build(plan, self.sessions)
        if built.refused:
            log.warning("campaign %s not written: %s", plan.legacy_id, built.refused)
            return Outcome(STATUS_REJECTED, reason=WRITE_FAILED, detail=built.refused)
        self._copy_binaries(plan)
        try:
            with self._write_lock:
                position = self.sessions.record(built.stored)
        except IntegrityError:
            # Another run wrote this stream first: judge it like any existing stream.
            existing = self.stored_provenance(plan.stream_id)
            if existing is None:
                raise
            return self._compare(plan, existing)
        if built.snapshot is not None:
            self._snapshot_later(built.snapshot)
        return Outcome(plan.status, plan.events, built.stored[-1].originator_version, position)

    def _snapshot_later(self, snapshot: StoredEvent) -> None:
        """Queue a snapshot; a batch of them shares one transaction. One lost in a crash only
        means that the first load of its campaign replays the events instead."""
        with self._snapshot_guard:
            self._snapshots.append(snapshot)
            if len(self._snapshots) < SNAPSHOTS_PER_COMMIT:
                return
            batch, self._snapshots = self._snapshots, []
        self._write_snapshots(batch)

    def _write_snapshots(self, batch: list[StoredEvent]) -> None:
        if not batch or self.sessions is None or self.sessions.snapshots is None:
            return
        recorder = self.sessions.snapshots.recorder
        try:
            recorder.insert_events(batch)
        except IntegrityError:  # another run snapshotted one of them first: the others alone
            for snapshot in batch:
                with contextlib.suppress(IntegrityError):
                    recorder.insert_events([snapshot])
        except PersistenceError:
            log.exception("%d snapshots of imported campaigns not written", len(batch))

    def stored_provenance(self, stream_id: UUID) -> dict[str, Any] | None:
        """The ``origin`` of an existing stream (with ``version``), or None if there is none."""
        if self.sessions is None:
            return None
        try:
            first = next(iter(self.sessions.events.get(stream_id, limit=1)), None)
        except PersistenceError:
            if self.dry_run:
                return None  # no tables yet: nothing was ever imported
            raise
        if first is None:
            return None
        last = next(iter(self.sessions.events.get(stream_id, desc=True, limit=1)))
        origin = dict(getattr(first, "origin", {}) or {})
        return origin | {"version": last.originator_version}

    def _compare(self, plan: Plan, origin: dict[str, Any]) -> Outcome:
        provenance = origin.get("import") or {}
        if origin.get("kind") == "legacy" and provenance.get("fingerprint") == plan.fingerprint:
            return Outcome(STATUS_ALREADY, version=origin["version"])
        return Outcome(
            STATUS_CONFLICT,
            version=origin["version"],
            reason=CONFLICT,
            detail="the source files changed since the campaign was imported",
            changes=_changes(provenance.get("files") or [], plan.start["provenance"]["files"]),
        )

    def _copy_binaries(self, plan: Plan) -> None:
        if self.media is None:
            return
        for binary in plan.binaries:
            data = read_regular(binary.path)
            if hashlib.sha256(data).hexdigest() != binary.sha256:
                raise MediaCorrupt(f"{binary.rel} changed while the job ran (sha256 differs)")
            put_checked(self.media, data, sha256=binary.sha256, content_type=binary.content_type)

    def close(self) -> None:
        """The store and the media store serve one run; the queued snapshots go first."""
        with self._snapshot_guard:
            batch, self._snapshots = self._snapshots, []
        try:
            self._write_snapshots(batch)
        except Exception:  # a snapshot is an optimisation: it never fails the run
            log.exception("snapshots of imported campaigns not written")
        if self.sessions is not None:
            self.sessions.close()
        if self.media is not None:
            self.media.close()


def _changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[str]]:
    old = {f["path"]: f.get("sha256") for f in before}
    new = {f["path"]: f.get("sha256") for f in after}
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }


@contextlib.contextmanager
def importer(
    *,
    database_url: str | None,
    data_dir: Path,
    media: MediaStore | None,
    dry_run: bool,
    pool: int,
) -> Iterator[Importer]:
    sessions = open_sessions(database_url, data_dir, dry_run=dry_run, pool=pool)
    job = Importer(sessions, media, dry_run=dry_run, one_writer=not is_postgres(database_url))
    try:
        yield job
    finally:
        job.close()
