"""The audit export format ``gaia-export/1`` (NDJSON with a SHA-256 hash chain): writing it from a
session's stream, page by page, and verifying a file line by line.

A header line, one line per stored event, a trailer. Each event line carries ``prev_hash`` and
``hash`` = SHA-256 hex of ``prev_hash`` + the canonical JSON of the line without those two keys
(keys sorted, separators ``,`` and ``:``, UTF-8, non-ASCII unescaped); the first ``prev_hash`` is
64 zeros. ``docs/export.md`` tells anyone how to check a file without this code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from domain import roles
from domain.application import Sessions
from projections.records import event_record, shown_to

FORMAT: Final = "gaia-export/1"
ZERO_HASH: Final = "0" * 64
CHUNK: Final = 1000  # events read from the store per query while exporting

HEADER_KEYS: Final = frozenset({"type", "format", "session_id", "title", "exported_at"})
EVENT_KEYS: Final = frozenset(
    {"type", "version", "event_type", "recorded_at", "occurred_at", "actor", "data"}
    | {"prev_hash", "hash"}
)
TRAILER_KEYS: Final = frozenset({"type", "count", "final_hash"})
HASHES: Final = ("prev_hash", "hash")
TITLE_EVENTS: Final = frozenset({"SessionStarted", "SessionRenamed"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: keys sorted, no spaces, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def event_line(record: dict[str, Any], prev_hash: str) -> tuple[str, str]:
    """One event line (without its newline) from an ``event_record``, and its hash."""
    body = {
        "type": "event",
        "version": record["version"],
        "event_type": record["type"],
        "recorded_at": record["recorded_at"],
        "occurred_at": record["occurred_at"],
        "actor": record["actor"],
        "data": record["data"],
    }
    canonical = canonical_json(body)
    digest = chain_hash(prev_hash, canonical)
    # The hashed text itself, with the two hashes appended: no second serialisation needed.
    return f'{canonical[:-1]},"prev_hash":"{prev_hash}","hash":"{digest}"}}', digest


def export_ndjson(
    sessions: Sessions,
    session_id: UUID,
    *,
    title: str,
    until: int,
    exported_at: str,
    chunk: int = CHUNK,
    role: str = roles.OWNER,
) -> Iterator[str]:
    """The export of versions 1..``until`` as text blocks of whole lines, one block per page.

    Only one page of events is in memory at a time. ``title`` should be the title at ``until``.
    ``role`` is the reader's: invite events keep only their ``invite_id`` for all but the owner
    (``records.shown_to``); the chain is computed over the lines as written, so it verifies.
    """
    header = {
        "type": "header",
        "format": FORMAT,
        "session_id": str(session_id),
        "title": title,
        "exported_at": exported_at,
    }
    yield canonical_json(header) + "\n"
    prev, count, after = ZERO_HASH, 0, 0
    while after < until:
        page = list(sessions.events.get(session_id, gt=after, lte=until, limit=chunk))
        if not page:
            break
        lines = []
        for event in page:
            line, prev = event_line(shown_to(event_record(event), role), prev)
            lines.append(line)
        count += len(page)
        after = page[-1].originator_version
        yield "\n".join(lines) + "\n"
    trailer = {"type": "trailer", "count": count, "final_hash": prev}
    yield canonical_json(trailer) + "\n"


# -- verifying ------------------------------------------------------------------------------


class ExportInvalid(Exception):
    """The first line of an export that does not check out (1-based), and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class VerifiedExport:
    session_id: str
    title: str
    exported_at: str
    count: int
    final_hash: str


def verify_export(lines: Iterable[bytes | str]) -> VerifiedExport:
    """Check an export, reading one line at a time; raise ``ExportInvalid`` at the first bad one.

    Beyond the hash chain it checks that versions run 1, 2, 3, ... (naming a dropped, duplicated
    or reordered line plainly), the exact keys of every line, the trailer, and that the header's
    title is the title the events end with.
    """
    numbered = enumerate(lines, start=1)
    first = next(numbered, None)
    if first is None:
        raise ExportInvalid(1, "the file is empty: a header line is missing")
    header = _header(_parse(*first))
    prev, count, title, last = ZERO_HASH, 0, None, 1
    trailer: dict[str, Any] | None = None
    for number, raw in numbered:
        last = number
        line = _parse(number, raw)
        if trailer is not None:
            raise ExportInvalid(number, "a line follows the trailer")
        if line.get("type") == "event":
            prev = _event(number, line, count + 1, prev)
            count += 1
            if line["event_type"] in TITLE_EVENTS and isinstance(line["data"], dict):
                title = line["data"].get("title", title)
        elif line.get("type") == "trailer":
            _trailer(number, line, count, prev)
            trailer = line
        else:
            raise ExportInvalid(number, f"unexpected line type {line.get('type')!r}")
    if trailer is None:
        raise ExportInvalid(last + 1, f"the trailer is missing: the export ends at line {last}")
    if title is not None and title != header["title"]:
        raise ExportInvalid(1, f"the header title {header['title']!r} is not the session's title")
    return VerifiedExport(header["session_id"], header["title"], header["exported_at"], count, prev)


def _parse(number: int, raw: bytes | str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise ExportInvalid(number, "the line is not UTF-8") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise ExportInvalid(number, "the line is blank")
    try:
        value = json.loads(text)
    except ValueError:
        raise ExportInvalid(number, "the line is not JSON") from None
    if not isinstance(value, dict):
        raise ExportInvalid(number, "the line is not a JSON object")
    return value


def _keys(number: int, line: dict[str, Any], expected: frozenset[str], what: str) -> None:
    if set(line) != expected:
        missing, extra = sorted(expected - set(line)), sorted(set(line) - expected)
        raise ExportInvalid(number, f"the {what} has missing keys {missing} / extra keys {extra}")


def _header(line: dict[str, Any]) -> dict[str, Any]:
    if line.get("type") != "header":
        raise ExportInvalid(1, "the first line is not a header")
    if line.get("format") != FORMAT:
        raise ExportInvalid(1, f"the format is {line.get('format')!r}, not {FORMAT!r}")
    _keys(1, line, HEADER_KEYS, "header")
    try:
        UUID(str(line["session_id"]))
    except ValueError:
        raise ExportInvalid(1, "the header's session_id is not a UUID") from None
    if not isinstance(line["title"], str) or not isinstance(line["exported_at"], str):
        raise ExportInvalid(1, "the header's title and exported_at must be strings")
    return line


def _event(number: int, line: dict[str, Any], version: int, prev: str) -> str:
    _keys(number, line, EVENT_KEYS, "event line")
    found = line["version"]
    if found != version or isinstance(found, bool):
        raise ExportInvalid(
            number,
            f"version {found!r} where {version} was expected: "
            "a line was dropped, duplicated or reordered",
        )
    if line["prev_hash"] != prev:
        raise ExportInvalid(number, "prev_hash is not the hash of the line before")
    body = {key: value for key, value in line.items() if key not in HASHES}
    digest = chain_hash(prev, canonical_json(body))
    if line["hash"] != digest:
        raise ExportInvalid(number, "hash does not match the line's content: the line was altered")
    return digest


def _trailer(number: int, line: dict[str, Any], count: int, prev: str) -> None:
    _keys(number, line, TRAILER_KEYS, "trailer")
    if line["count"] != count or isinstance(line["count"], bool):
        raise ExportInvalid(number, f"the trailer counts {line['count']!r} events, not {count}")
    if not isinstance(line["final_hash"], str) or not _HEX64.fullmatch(line["final_hash"]):
        raise ExportInvalid(number, "the trailer's final_hash is not a SHA-256 hex digest")
    if line["final_hash"] != prev:
        raise ExportInvalid(number, "the trailer's final_hash is not the hash of the last event")
