"""Legacy chat messages (docs/legacy-format.md#messages, #hazards): the history container, each
message read into what the stream needs plus a ``legacy`` record of everything else, and the
history's warnings.

Content is never altered: a string stays the exact string, an object the exact object, and a
JSON-encoded assistant string keeps its raw text beside the decoded object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from migrate_legacy.model import Notice
from migrate_legacy.timestamps import AWARE, INVALID, NAIVE, Instant, NaiveZone, parse_instant

ROLES: Final = {
    "user": "user",
    "player": "user",
    "assistant": "assistant",
    "dm": "assistant",
    "system": "system",
}
CONTEXT_PREFIX: Final = "[CONTEXT] "
TIME_KEYS: Final = ("timestamp", "time")
ABSENT: Final = object()


@dataclass(frozen=True)
class Message:
    """One history entry, ready to map: ``legacy`` is stored with its event as is."""

    position: int
    role: str  # user | assistant | system | unknown (a missing or unknown role, or not an object)
    text: str
    structured: dict[str, Any] | None
    character: dict[str, str] | None
    occurred_at: datetime | None
    form: str | None  # naive | aware | invalid | None (no timestamp)
    timestamp: str | None
    content: Any  # the original content, or ABSENT
    original_role: Any
    legacy: dict[str, Any]

    @property
    def kind(self) -> str:
        context = isinstance(self.content, str) and self.content.startswith(CONTEXT_PREFIX)
        return "context" if context else "action"

    @property
    def has_audio(self) -> bool:
        return self.role == "assistant" and isinstance((self.structured or {}).get("audio"), dict)

    def same_as(self, other: Message) -> bool:
        """Equal by original role and content (how backups and lower copies are compared)."""
        return self.original_role == other.original_role and _same(self.content, other.content)


def history_entries(value: Any) -> tuple[list[Any], dict[str, Any]] | None:
    """The message list of a history file and the wrapper's other keys; None if neither form."""
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return value["messages"], {k: v for k, v in value.items() if k != "messages"}
    return None


def read_message(position: int, raw: Any, zone: NaiveZone) -> Message:
    """One entry of the array, whatever its shape; nothing in it is dropped."""
    legacy: dict[str, Any]
    if not isinstance(raw, dict):
        legacy = {"position": position, "content_form": "value", "content": raw, "entry": "value"}
        text = raw if isinstance(raw, str) else ""
        return Message(position, "unknown", text, None, None, None, None, None, raw, ABSENT, legacy)
    extras = dict(raw)
    original_role = extras.pop("role") if isinstance(raw.get("role"), str) else ABSENT
    role = ROLES.get(original_role, "unknown") if isinstance(original_role, str) else "unknown"
    content = extras.pop("content", ABSENT)
    legacy = {"position": position, "keys": list(raw)}
    if original_role is not ABSENT:
        legacy["role"] = original_role
    timestamp, instant = None, None
    for key in TIME_KEYS:
        if isinstance(raw.get(key), str):
            timestamp = extras.pop(key)
            instant = parse_instant(timestamp, zone)
            legacy["timestamp"], legacy["timestamp_key"] = timestamp, key
            if instant.form == NAIVE:
                legacy["timezone_assumed"] = zone.name
            break
    else:
        if any(key in raw for key in TIME_KEYS):  # present but not a string: kept in extras
            instant = Instant(None, INVALID)
    if isinstance(raw.get("message_id"), str):
        legacy["message_id"] = extras.pop("message_id")
    character = _character(extras) if role == "user" else None
    text, structured, form = _content(role, content)
    legacy["content_form"] = form
    if form in ("json_string", "value"):
        legacy["content"] = content
    legacy["extras"] = extras
    return Message(
        position=position,
        role=role,
        text=text,
        structured=structured,
        character=character,
        occurred_at=instant.at if instant else None,
        form=instant.form if instant else None,
        timestamp=timestamp,
        content=content,
        original_role=original_role,
        legacy=legacy,
    )


def _character(extras: dict[str, Any]) -> dict[str, str] | None:
    name, cid = extras.get("character_name"), extras.get("character_id")
    name = extras.pop("character_name") if isinstance(name, str) else None
    cid = extras.pop("character_id") if isinstance(cid, str) else None
    if name is None and cid is None:
        return None
    return {"id": cid or "", "name": name or ""}


def _content(role: str, content: Any) -> tuple[str, dict[str, Any] | None, str]:
    """``(text, structured, form)``; form tells where the original content is kept."""
    if content is ABSENT:
        return "", None, "missing"
    if isinstance(content, str):
        if role == "assistant" and content.strip().startswith(("{", "[")):
            try:
                decoded = json.loads(content)
            except ValueError:  # prose such as "{laughs} The innkeeper..."
                return content, None, "text"
            structured = decoded if isinstance(decoded, dict) else None
            return _narrative(structured), structured, "json_string"
        return content, None, "text"
    if isinstance(content, dict) and role != "user":
        return _narrative(content), content, "object"
    return "", None, "value"


def _narrative(structured: dict[str, Any] | None) -> str:
    value = (structured or {}).get("narrative")
    return value if isinstance(value, str) else ""


def reply_fields(message: Message) -> tuple[str, str, list[str]]:
    """``(narrative, answer, player_options)`` of an assistant message, for its event."""
    structured = message.structured or {}
    answer = structured.get("answer")
    options = structured.get("player_options")
    if isinstance(options, str):
        options = [options]
    listed = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
    return message.text, answer if isinstance(answer, str) else "", listed


def history_notices(messages: list[Message], path: str) -> list[Notice]:
    """The warnings of hazards H1-H3 and H6 (docs/legacy-format.md#hazards) for one history, in a
    fixed order, each raised once."""
    codes: dict[str, str] = {}

    def note(code: str, detail: str) -> None:
        codes.setdefault(code, detail)

    previous: Message | None = None
    last_at: datetime | None = None
    forms = {m.form for m in messages if m.form in (NAIVE, AWARE)}
    for message in messages:
        if message.role == "unknown":
            code = "unknown_role" if message.legacy.get("entry") is None else "malformed_message"
            note(code, f"message {message.position}")
        if message.form is None and message.legacy.get("entry") is None:
            note("missing_timestamps", f"message {message.position} has no timestamp")
        if message.form == INVALID:
            note("unparseable_timestamp", f"message {message.position}")
        if previous is not None:
            if message.timestamp is not None and message.timestamp == previous.timestamp:
                note("identical_timestamps", f"messages {previous.position}-{message.position}")
            if message.role == previous.role == "assistant" and _same(
                message.content, previous.content
            ):
                note(
                    "possible_duplicate_message",
                    f"messages {previous.position}-{message.position}",
                )
        if message.occurred_at is not None:
            if last_at is not None and message.occurred_at < last_at:
                note("non_monotonic_timestamps", f"message {message.position} goes backwards")
            last_at = message.occurred_at
        previous = message
    if {NAIVE, AWARE} <= forms:
        note("mixed_timezones", "naive and offset-aware timestamps in one history")
    return [Notice(code, path, detail) for code, detail in codes.items()]


def is_prefix(shorter: list[Message], longer: list[Message]) -> bool:
    """True if ``shorter`` equals the start of ``longer`` by role and content."""
    return len(shorter) <= len(longer) and all(
        a.same_as(b) for a, b in zip(shorter, longer, strict=False)
    )


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a != b:
        return False
    # Equal in Python; through JSON too, so that 1 and true, or 1 and 1.0, stay apart as on disk.
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
