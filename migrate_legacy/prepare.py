"""Preparing one campaign away from the store: read, parse and map every copy of it, then replay
the primary's commands on a new session and encode its events (and snapshot), so that the writer
is left with one INSERT. Pure but for reading the files; runs in a worker process or a thread."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Final

from eventsourcing.persistence import StoredEvent

from domain.application import DEFAULT_SNAPSHOT_INTERVAL, Sessions
from domain.errors import GaiaError
from domain.ids import legacy_session_id
from domain.session import CampaignSession
from migrate_legacy.campaign import ImageFinder, ParsedCampaign, parse_campaign
from migrate_legacy.discovery import LAYOUT_RANK, Candidate
from migrate_legacy.mapping import Options, Plan, map_campaign
from migrate_legacy.messages import is_prefix
from migrate_legacy.model import (
    CONFLICT,
    COUNT_KEYS,
    REJECTED,
    STATUS_REJECTED,
    SUPERSEDED,
    FileRow,
)
from migrate_legacy.report import copy_entry
from migrate_legacy.sources import Loaded, SourceFile, is_present, load

log = logging.getLogger(__name__)
INTERNAL_ERROR: Final = "internal_error"
IMAGE_TYPE: Final = re.compile(r"^[a-z_]+$")
# An imported stream this long is snapshotted, as a save across the interval would be: the
# first load of an imported 2,000-event campaign then reads one snapshot, not 2,000 events.
SNAPSHOT_FROM: Final = DEFAULT_SNAPSHOT_INTERVAL


@dataclass(frozen=True)
class Settings:
    """What preparing needs, picklable for a worker process."""

    options: Options
    images: Path | None = None
    encode: bool = False  # build and encode the events here (else the writer builds them)


@dataclass
class Built:
    """A plan's stream, encoded: its events, and the snapshot of its last version if it is
    long enough; or the refusal of a command (the campaign is then not written)."""

    stored: list[StoredEvent]
    snapshot: StoredEvent | None = None
    refused: str = ""


@dataclass
class Prepared:
    """One legacy id, ready for the writer: the primary copy's plan (and stream, if encoded),
    the report entries of the other copies, or the entries of a group that failed."""

    plan: Plan | None = None
    built: Built | None = None
    copies: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def build(plan: Plan, app: Sessions) -> Built:
    """The plan's commands applied to a new session, and its events encoded by ``app``."""
    try:
        session = app.start_legacy_session(**plan.start)
        for step in plan.steps:
            step.apply(session)
    except GaiaError as error:
        return Built([], refused=str(error)[:300])
    encode = app.mapper.to_stored_event
    stored = [encode(event) for event in session.collect_events()]
    snapshot = None
    if session.version >= SNAPSHOT_FROM:
        snapshot = encode(CampaignSession.Snapshot.take(session))
    return Built(stored, snapshot)


def prepare_group(group: list[Candidate], settings: Settings, app: Sessions | None) -> Prepared:
    """All copies of one legacy id: the primary is to be written, the others are reported
    (docs/legacy-format.md#copies). A failure is reported for the group, never raised."""
    options = settings.options
    try:
        parsed = [parse_campaign(c, [load(f) for f in c.files], options.zone) for c in group]
        primary, *others = sorted(parsed, key=_precedence)
        plan = map_campaign(primary, options, _finder(settings.images))
        prepared = Prepared(plan)
        if settings.encode and app is not None and plan.status != STATUS_REJECTED:
            prepared.built = build(plan, app)
            prepared.plan = _without_steps(plan)
        for copy in others:
            reason = (
                SUPERSEDED if is_prefix(copy.history or [], primary.history or []) else CONFLICT
            )
            copy_plan = map_campaign(copy, options, no_images)
            prepared.copies.append(copy_entry(copy_plan, reason, primary.candidate.source))
    except Exception as error:  # hazard H8: report the campaign and go on (logged with traceback)
        log.exception("campaign %s could not be processed", group[0].legacy_id)
        return Prepared(failed=failed_entries(group, error))
    return prepared


def prepare_in_worker(group: list[Candidate], settings: Settings) -> Prepared:
    """``prepare_group`` in a worker process, its events encoded there."""
    return prepare_group(group, settings, _worker_app())


@cache
def _worker_app() -> Sessions:
    """A storeless Sessions for building and encoding: the same transcoder, and the same
    compressor or cipher settings from the inherited environment, as the writer's."""
    return Sessions({"GAIA_PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_interval=0)


@cache
def _finder(images: Path | None) -> ImageFinder:
    return image_finder(images)


def _without_steps(plan: Plan) -> Plan:
    """The plan as the writer and the report need it once its stream is encoded."""
    files = plan.start["provenance"]["files"]
    return replace(plan, steps=[], start={"provenance": {"files": files}})


def _precedence(parsed: ParsedCampaign) -> tuple[int, int, str]:
    """L3 over L2 over L1; within a layout the longer history, then the path."""
    history = len(parsed.history or [])
    return (-LAYOUT_RANK[parsed.candidate.layout], -history, parsed.candidate.source)


def failed_entries(group: list[Candidate], error: Exception) -> list[dict[str, Any]]:
    """The report entries of a group that could not be processed: every file rejected."""
    return [_failed(candidate, error) for candidate in group]


def _failed(candidate: Candidate, error: Exception) -> dict[str, Any]:
    detail = f"{type(error).__name__}: {error}"[:300]
    rows = [FileRow(f.rel, None, None, REJECTED, INTERNAL_ERROR, detail) for f in candidate.files]
    return {
        "legacy_id": candidate.legacy_id,
        "stream_id": str(legacy_session_id(candidate.legacy_id)),
        "layout": candidate.layout,
        "source": candidate.source,
        "display_name": candidate.legacy_id,
        "status": STATUS_REJECTED,
        "awaiting_reply": False,
        "counts": dict.fromkeys(COUNT_KEYS, 0),
        "warnings": [],
        "warning_details": [],
        "files": [row.as_json() for row in rows],
        "events": 0,
        "written": 0,
        "version": None,
        "detail": detail,
    }


def image_finder(images: Path | None) -> ImageFinder:
    """Look for a binary under the image root in the order of docs/legacy-format.md#images; the
    first hit wins."""

    def find(legacy_id: str, kind: str, name: str) -> Loaded | None:
        if images is None:
            return None
        folders = ([f"{kind}s"] if IMAGE_TYPE.match(kind) else []) + ["images"]
        places = [images / legacy_id / folder / name for folder in folders]
        places += [images / legacy_id / name, images / name]
        for path in places:
            if is_present(path):
                return load(SourceFile(path, path.relative_to(images).as_posix(), name))
        return None

    return find


def no_images(legacy_id: str, kind: str, name: str) -> Loaded | None:
    """For copies that are never written: their binaries are not even read."""
    return None
