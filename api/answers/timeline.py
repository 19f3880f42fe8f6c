"""Answers about a session's past: the timeline of stored events, the session at a version,
forks, and the export (NDJSON, described here as a non-JSON answer) with its signing key."""

from __future__ import annotations

from typing import Any, Final

from pydantic import Field

from api.answers.base import Absent, Answer, Written
from api.answers.campaign import CampaignState
from api.answers.history import Message
from api.answers.sessions import Origin, Session

NDJSON: Final = "application/x-ndjson"


class EventRecord(Answer):
    """One stored event, as the timeline, live streams and exports show it."""

    version: int
    type: str = Field(description="the event type (the SSE event name)")
    recorded_at: str
    occurred_at: str | None
    actor: str | None
    data: dict[str, Any] = Field(description="the event's own fields")


class Timeline(Answer):
    events: list[EventRecord]
    next_after: int | None
    version: int
    hidden: list[tuple[int, int]] = Field(description="version ranges rewinds hide from history")


class SessionAt(Session):
    """The session as it was at a version; history and campaign only when asked for."""

    current_version: int
    campaign: CampaignState | Absent = None
    messages: list[Message] | Absent = None
    next_after: int | None = None


class Forked(Written):
    session_id: str
    title: str
    origin: Origin


class ExportKey(Answer):
    key_id: str
    algorithm: str
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 key")
    pem: str


def export_answer(description: str) -> dict[int | str, dict[str, Any]]:
    """The export's 200: NDJSON lines, described in words (ARCHITECTURE §6.1)."""
    return {200: {"description": description, "content": {NDJSON: {"schema": {"type": "string"}}}}}
