"""Mapping one parsed campaign to its stream (docs/legacy-format.md#files, #ownership, #stream): the
steps in order, each file's fate, the counts and warnings, and the provenance stored with the
session.

Pure: the same parsed campaign and options always give the same plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from domain.ids import legacy_child_id, legacy_session_id
from migrate_legacy import classify as k
from migrate_legacy.campaign import ImageFinder, ParsedCampaign, file_notices
from migrate_legacy.files_map import Binary, FileMapping, map_files
from migrate_legacy.messages import Message, history_notices, is_prefix, reply_fields
from migrate_legacy.model import (
    CAMPAIGN_REJECTED,
    COUNT_KEYS,
    PRESERVED,
    REJECTED,
    STATUS_IMPORTED,
    STATUS_PARTIAL,
    STATUS_REJECTED,
    FileRow,
    Notice,
)
from migrate_legacy.naming import display_name, is_test_campaign
from migrate_legacy.ownership import METADATA_FILE, Ownership, ownership_of
from migrate_legacy.steps import ImportMessage, ImportReply, ImportTurn, Step
from migrate_legacy.timestamps import NaiveZone, instant_or_none

IMPORTER: Final = "migrate_legacy/1"
SETTINGS_KEYS: Final = ("description", "game_style", "world_settings", "max_player_seats")
LAST_MESSAGE_TOLERANCE_S: Final = 1.0
UNNAMED: Final = "Untitled legacy campaign"  # only for a legacy id that is all blanks


@dataclass(frozen=True)
class Options:
    zone: NaiveZone
    default_owner: str | None = None


@dataclass
class Plan:
    """Everything the apply stage writes for one campaign, and its line in the report."""

    legacy_id: str
    stream_id: UUID
    layout: str
    source: str
    display_name: str
    status: str
    awaiting_reply: bool
    counts: dict[str, int]
    notices: list[Notice]
    rows: list[FileRow]
    fingerprint: str
    start: dict[str, Any] = field(default_factory=dict)  # start_legacy_session arguments
    steps: list[Step] = field(default_factory=list)
    binaries: list[Binary] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more report fields
    # Events the stream gets: SessionStarted and one per step (0 if rejected). Kept apart from
    # ``steps`` so that a plan whose stream is already encoded travels without them.
    events: int = 0


def fingerprint(rows: list[tuple[str, str | None, int | None]]) -> str:
    """The digest of a campaign's files: their campaign-relative paths, digests and sizes."""
    lines = sorted(
        f"{path}\t{sha or '-'}\t{size if size is not None else '-'}" for path, sha, size in rows
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def map_campaign(parsed: ParsedCampaign, options: Options, find_image: ImageFinder) -> Plan:
    candidate = parsed.candidate
    stream_id = legacy_session_id(candidate.legacy_id)
    notices = [Notice("test_campaign")] if is_test_campaign(candidate.legacy_id) else []
    notices += file_notices(parsed)
    digest = fingerprint([(f.key, f.loaded.sha256, f.loaded.size) for f in parsed.files])
    counts = dict.fromkeys(COUNT_KEYS, 0)
    name, mismatch = display_name(
        legacy_id=candidate.legacy_id,
        metadata=parsed.metadata,
        dir_name=candidate.dir_name,
        campaign_data=parsed.campaign_data,
        slug=candidate.slug,
    )
    plan = Plan(
        legacy_id=candidate.legacy_id,
        stream_id=stream_id,
        layout=candidate.layout,
        source=candidate.source,
        display_name=name,
        status=STATUS_IMPORTED,
        awaiting_reply=False,
        counts=counts,
        notices=notices,
        rows=[],
        fingerprint=digest,
        extra={"env": candidate.env} if candidate.env else {},
    )
    if mismatch:
        notices.append(
            Notice("name_mismatch", None, f"metadata name differs from {candidate.dir_name!r}")
        )
    if parsed.fatal is not None:
        return _rejected(plan, parsed)
    messages = parsed.history or []
    notices += _history_warnings(parsed, messages, options.zone)
    ownership = ownership_of(parsed.metadata, options.default_owner)
    notices += ownership.notices
    steps: list[Step] = [*ownership.steps()]
    steps += message_steps(
        stream_id, messages, parsed.history_file.key if parsed.history_file else None
    )
    files = map_files(parsed, stream_id, options.zone, find_image)
    steps += files.steps
    notices += files.notices
    plan.steps, plan.binaries = steps, files.binaries
    plan.events = 1 + len(steps)
    plan.rows = [files.rows[f.key] for f in parsed.files]
    plan.awaiting_reply = bool(messages) and messages[-1].role == "user"
    _count(plan, parsed, messages, files)
    if any(row.fate == REJECTED for row in plan.rows):
        plan.status = STATUS_PARTIAL
    plan.extra["ownership"] = ownership.record
    plan.start = _start(plan, parsed, options, ownership, files, messages)
    return plan


def _rejected(plan: Plan, parsed: ParsedCampaign) -> Plan:
    """An unreadable history or metadata rejects the whole campaign; nothing is written
    (docs/legacy-format.md#unreadable)."""
    plan.status = STATUS_REJECTED
    plan.rows = [
        FileRow(
            f.rel, f.loaded.sha256, f.loaded.size, REJECTED, f.reason or CAMPAIGN_REJECTED, f.detail
        )
        for f in parsed.files
    ]
    plan.counts["messages"] = len(parsed.history or [])
    return plan


def message_steps(stream_id: UUID, messages: list[Message], source: str | None) -> list[Step]:
    """Messages in array order: a player message becomes a held turn, an assistant message the
    reply to the turn still open before it, anything else a message answering no turn."""
    steps: list[Step] = []
    open_turn: UUID | None = None
    for message in messages:
        legacy = message.legacy
        if message.role == "user":
            open_turn = legacy_child_id(stream_id, "turn", message.position)
            if message is messages[-1]:
                legacy = legacy | {"awaiting_reply": True}
            steps.append(
                ImportTurn(
                    open_turn,
                    message.text,
                    message.kind,
                    message.character,
                    legacy,
                    message.occurred_at,
                    source,
                )
            )
        elif message.role == "assistant" and open_turn is not None:
            narrative, answer, options = reply_fields(message)
            steps.append(
                ImportReply(
                    open_turn,
                    narrative,
                    answer,
                    options,
                    message.structured or {},
                    legacy,
                    message.occurred_at,
                    source,
                )
            )
            open_turn = None
        else:
            role = "narrator" if message.role == "assistant" else "system"
            text = message.text
            if not text and legacy["content_form"] != "text":
                text = reply_fields(message)[1]  # an object with an answer but no narrative
            steps.append(
                ImportMessage(
                    role, text, message.structured or {}, legacy, message.occurred_at, source
                )
            )
    return steps


def _history_warnings(
    parsed: ParsedCampaign, messages: list[Message], zone: NaiveZone
) -> list[Notice]:
    path = parsed.history_file.rel if parsed.history_file else None
    notices: list[Notice] = []
    if not messages:
        notices.append(
            Notice("empty_history", path, "no history file" if path is None else "no messages")
        )
    if parsed.history_file is not None and parsed.history_file.key == "chat_history.json":
        notices.append(Notice("history_fallback_location", path))
    notices += history_notices(messages, path or "")
    metadata = parsed.metadata or {}
    count = metadata.get("message_count")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(messages):
        notices.append(
            Notice(
                "message_count_mismatch",
                None,
                f"metadata says {count}, history has {len(messages)}",
            )
        )
    last_said = instant_or_none(metadata.get("last_messaged_at"), zone)
    last_at = next((m.occurred_at for m in reversed(messages) if m.occurred_at), None)
    if (
        last_said
        and last_at
        and abs((last_said - last_at).total_seconds()) > LAST_MESSAGE_TOLERANCE_S
    ):
        notices.append(
            Notice("last_messaged_at_mismatch", None, f"metadata {metadata['last_messaged_at']}")
        )
    backup = next((f for f in parsed.of_kind(k.BACKUP)), None)
    if parsed.backup is not None and backup is not None and not is_prefix(parsed.backup, messages):
        notices.append(
            Notice(
                "backup_has_unimported_messages",
                backup.rel,
                f"backup holds {len(parsed.backup)} messages",
            )
        )
    return notices


def _count(plan: Plan, parsed: ParsedCampaign, messages: list[Message], files: FileMapping) -> None:
    counts = plan.counts
    counts["messages"] = len(messages)
    counts["audio_refs"] = sum(1 for m in messages if m.has_audio)
    for file in parsed.files:
        name = k.COUNTED.get(file.kind)
        if name is not None and file.ok:
            counts[name] += 1
    counts["image_binaries"] = files.binaries_found
    counts["image_binaries_missing"] = files.binaries_missing
    counts["preserved"] = sum(1 for row in plan.rows if row.fate == PRESERVED)


def _start(
    plan: Plan,
    parsed: ParsedCampaign,
    options: Options,
    ownership: Ownership,
    files: FileMapping,
    messages: list[Message],
) -> dict[str, Any]:
    metadata = parsed.metadata or {}
    first_at: datetime | None = next((m.occurred_at for m in messages if m.occurred_at), None)
    versions = _versions(plan.steps)
    if parsed.metadata is not None:  # the metadata became SessionStarted, version 1
        versions[METADATA_FILE] = [1, versions.get(METADATA_FILE, [1, 1])[1]]
    provenance: dict[str, Any] = {
        "importer": IMPORTER,
        "layout": plan.layout,
        "fingerprint": plan.fingerprint,
        "naive_tz": options.zone.name,
        "ownership": ownership.record,
        "files": [
            files.manifest[f.key] | ({"versions": versions[f.key]} if f.key in versions else {})
            for f in parsed.files
        ],
    }
    if parsed.metadata is not None:
        provenance["metadata"] = parsed.metadata
    if parsed.history_wrapper:
        provenance["history_wrapper"] = parsed.history_wrapper
    return {
        "legacy_id": plan.legacy_id,
        "source": plan.source,
        "title": plan.display_name.strip() or UNNAMED,
        "owner": ownership.owner,
        "owner_name": ownership.owner,
        "settings": {key: metadata[key] for key in SETTINGS_KEYS if key in metadata},
        "at": instant_or_none(metadata.get("created_at"), options.zone) or first_at,
        "provenance": provenance,
    }


def _versions(steps: list[Step]) -> dict[str, list[int]]:
    """Each source file's first and last stream version (SessionStarted is version 1)."""
    spans: dict[str, list[int]] = {}
    for index, step in enumerate(steps, start=2):
        if step.source is not None:
            span = spans.setdefault(step.source, [index, index])
            span[1] = index
    return spans
