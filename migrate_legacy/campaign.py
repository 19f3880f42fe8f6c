"""Parsing one campaign: every loaded file decoded by its kind (JSON, JSON lines, text or bytes),
the metadata and history read, and the reasons a file or the whole campaign is rejected.

Pure: the caller loads the bytes (``sources.load``) and finds image binaries; nothing here
touches the disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from migrate_legacy import classify as k
from migrate_legacy.discovery import Candidate
from migrate_legacy.messages import Message, history_entries, read_message
from migrate_legacy.model import Notice
from migrate_legacy.sources import INVALID_JSON, UNREADABLE, Loaded
from migrate_legacy.timestamps import NaiveZone

JSON: str = "json"
JSONL: str = "jsonl"
TEXT: str = "text"
BINARY: str = "binary"

# Finds an image binary: (legacy id, image type, file name) -> the loaded first hit, or None.
ImageFinder = Callable[[str, str, str], Loaded | None]


@dataclass
class Decoded:
    """One file of the campaign, decoded: ``value`` is a JSON value, a list (JSON lines), a
    string (text) or bytes (anything else); ``reason`` is set when the file is rejected."""

    loaded: Loaded
    kind: str
    form: str = BINARY
    value: Any = None
    reason: str | None = None
    detail: str = ""
    duplicate_keys: bool = False
    reserved: bool = False  # holds {"_type_", "_data_"} objects, which the store would misread

    @property
    def key(self) -> str:
        return self.loaded.file.key

    @property
    def rel(self) -> str:
        return self.loaded.file.rel

    @property
    def ok(self) -> bool:
        return self.reason is None

    def content(self) -> tuple[bytes, str]:
        """The bytes and sha256 of a file that was read."""
        data, sha256 = self.loaded.data, self.loaded.sha256
        if data is None or sha256 is None:
            raise ValueError(f"{self.rel} was not read")
        return data, sha256


@dataclass
class ParsedCampaign:
    candidate: Candidate
    files: list[Decoded]
    metadata: dict[str, Any] | None = None
    history: list[Message] | None = None  # None: no history file
    history_file: Decoded | None = None
    history_wrapper: dict[str, Any] = field(default_factory=dict)
    backup: list[Message] | None = None
    campaign_data: Any = None
    fatal: Decoded | None = None  # the rejected metadata or history that rejects the campaign

    def of_kind(self, *kinds: str) -> list[Decoded]:
        return [f for f in self.files if f.kind in kinds]


def decode(loaded: Loaded, kind: str) -> Decoded:
    """Decode one loaded file by what its kind and name say it should hold."""
    result = Decoded(loaded, kind)
    if loaded.reason is not None or loaded.data is None:
        result.reason, result.detail = loaded.reason or UNREADABLE, loaded.detail
        return result
    if k.expects_json(kind, loaded.file.key):
        try:
            text = loaded.data.decode("utf-8")
            if kind == k.COMBAT_LOG:
                result.form, result.value = JSONL, _json_lines(text, result)
            else:
                result.form, result.value = JSON, _json(text, result)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            result.reason, result.detail = INVALID_JSON, str(error)[:200]
        return result
    try:
        result.form, result.value = TEXT, loaded.data.decode("utf-8")
    except UnicodeDecodeError:
        result.form, result.value = BINARY, loaded.data
    return result


def _json(text: str, result: Decoded) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            result.duplicate_keys = True
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:  # noqa: PLR2004
            result.reserved = True
        return obj

    return json.loads(text, object_pairs_hook=pairs)


def _json_lines(text: str, result: Decoded) -> list[Any]:
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                values.append(_json(line, result))
            except ValueError as error:
                raise ValueError(f"line {number}: {error}") from None
    return values


def parse_campaign(candidate: Candidate, loaded: list[Loaded], zone: NaiveZone) -> ParsedCampaign:
    """Decode every file of ``candidate`` and read its metadata, history and backup."""
    if candidate.layout == "L1":
        kinds = [k.l1_kind(i) for i in range(len(loaded))]
    else:
        has_logs = any(f.file.key == "logs/chat_history.json" for f in loaded)
        kinds = [k.classify(f.file.key, has_logs_history=has_logs) for f in loaded]
    parsed = ParsedCampaign(
        candidate, [decode(f, kind) for f, kind in zip(loaded, kinds, strict=True)]
    )
    for file in parsed.files:
        if file.kind in k.ESSENTIAL and file.ok and file.reserved:
            file.reason = UNREADABLE
            file.detail = 'an object is shaped {"_type_", "_data_"}, which the store cannot keep'
        if file.kind == k.METADATA and file.ok and not isinstance(file.value, dict):
            file.reason, file.detail = UNREADABLE, "metadata.json is not a JSON object"
        if file.kind == k.METADATA and file.ok:
            parsed.metadata = file.value
        elif file.kind == k.HISTORY:
            parsed.history_file = file
            _read_history(parsed, file, zone)
        elif file.kind == k.BACKUP and file.ok:
            entries = history_entries(file.value)
            if entries is not None:
                parsed.backup = [read_message(i, m, zone) for i, m in enumerate(entries[0])]
        elif file.kind == k.CAMPAIGN_DATA and file.ok:
            parsed.campaign_data = file.value
    parsed.fatal = next((f for f in parsed.files if f.kind in k.ESSENTIAL and not f.ok), None)
    return parsed


def _read_history(parsed: ParsedCampaign, file: Decoded, zone: NaiveZone) -> None:
    if not file.ok:
        return
    entries = history_entries(file.value)
    if entries is None:
        file.reason = UNREADABLE
        file.detail = 'the history is neither a message array nor {"messages": [...]}'
        return
    messages, parsed.history_wrapper = entries
    parsed.history = [read_message(i, m, zone) for i, m in enumerate(messages)]


def file_notices(parsed: ParsedCampaign) -> list[Notice]:
    """One warning per rejected file (its reason as code) and per file with repeated keys."""
    notices = [Notice(f.reason, f.rel, f.detail) for f in parsed.files if f.reason]
    notices += [
        Notice("duplicate_keys", f.rel, "a JSON object repeats a key; the last value was kept")
        for f in parsed.files
        if f.duplicate_keys
    ]
    return notices
