"""One stored event as plain JSON: the shape the timeline, live streams and exports all share,
and what of it each role may read."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final, TypedDict
from uuid import UUID

from domain import roles

# Carried by every event; shown at the top level of a record, not repeated in its data.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "occurred_at", "actor"})
CREATION_ONLY = frozenset({"originator_topic"})
# Events whose details only the owner may read, as only the owner may list invites (role,
# expiry, uses, the token's hash): anyone else gets the event with just these fields of its
# data. The event itself stays, so that versions run on without a gap in streams and exports.
OWNER_ONLY_DATA: Final[dict[str, tuple[str, ...]]] = {
    "InviteIssued": ("invite_id",),
    "InviteRevoked": ("invite_id",),
}


class EventRecord(TypedDict):
    """One stored event as JSON: the envelope at the top, the event's own fields in ``data``."""

    version: int
    type: str
    recorded_at: str
    occurred_at: str | None
    actor: str | None
    data: dict[str, Any]


def jsonable(value: Any) -> Any:
    """Event field values as JSON values: ids and instants as strings, containers recursively."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def event_type(event: Any) -> str:
    return type(event).__name__


def event_record(event: Any) -> EventRecord:
    """``{version, type, recorded_at, occurred_at, actor, data}`` for one domain event."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data = {
        name: jsonable(value)
        for name, value in fields.items()
        if name not in ENVELOPE and name not in CREATION_ONLY
    }
    occurred_at = fields.get("occurred_at")
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": occurred_at.isoformat() if occurred_at else None,
        "actor": fields.get("actor"),
        "data": data,
    }


def shown_to(record: EventRecord, role: str) -> EventRecord:
    """``record`` as a member with ``role`` may read it (see ``OWNER_ONLY_DATA``)."""
    kept = OWNER_ONLY_DATA.get(record["type"])
    if kept is None or role == roles.OWNER:
        return record
    shown = record.copy()
    shown["data"] = {key: record["data"][key] for key in kept if key in record["data"]}
    return shown
