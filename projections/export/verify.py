"""Checking an export line by line: the exact keys of every line, versions 1, 2, 3, ..., the hash
chain, the trailer and (given the public key) its signature; ``ExportInvalid`` names the first
line that does not check out."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from projections.export.lines import FORMAT, ZERO_HASH, canonical_json, chain_hash
from projections.export.signing import SIGNATURE_BYTES, key_id, signed_message

HEADER_KEYS: Final = frozenset({"type", "format", "session_id", "title", "exported_at"})
EVENT_KEYS: Final = frozenset(
    {"type", "version", "event_type", "recorded_at", "occurred_at", "actor", "data"}
    | {"prev_hash", "hash"}
)
TRAILER_KEYS: Final = frozenset({"type", "count", "final_hash", "key_id", "signature"})
# The trailer of exports made before trailers were signed: it still verifies without a key.
UNSIGNED_TRAILER_KEYS: Final = TRAILER_KEYS - {"key_id", "signature"}
HASHES: Final = ("prev_hash", "hash")
TITLE_EVENTS: Final = frozenset({"SessionStarted", "SessionRenamed"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


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
    key_id: str | None  # the key the trailer names; None: made before trailers were signed
    signature_checked: bool  # False: no public key was given, so the signature was not checked


def verify_export(
    lines: Iterable[bytes | str], public_key: Ed25519PublicKey | None = None
) -> VerifiedExport:
    """Check an export, reading one line at a time; raise ``ExportInvalid`` at the first bad one.

    Beyond the hash chain it checks that versions run 1, 2, 3, ... (naming a dropped, duplicated
    or reordered line plainly), that no line repeats a key, the exact keys of every line, the
    trailer, and that the header's title is the title the events end with. With ``public_key``
    it also checks the trailer's signature, which alone catches a file cut short or re-hashed
    with a trailer to match: the chain proves only that the file agrees with itself. An unsigned
    trailer (exports made before trailers were signed) passes only without ``public_key``.
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
            if public_key is not None:
                _signature(number, header, line, public_key)
            trailer = line
        else:
            raise ExportInvalid(number, f"unexpected line type {line.get('type')!r}")
    if trailer is None:
        raise ExportInvalid(last + 1, f"the trailer is missing: the export ends at line {last}")
    if title is not None and title != header["title"]:
        raise ExportInvalid(1, f"the header title {header['title']!r} is not the session's title")
    return VerifiedExport(
        header["session_id"],
        header["title"],
        header["exported_at"],
        count,
        prev,
        key_id=trailer.get("key_id"),
        signature_checked=public_key is not None,
    )


def _parse(number: int, raw: bytes | str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise ExportInvalid(number, "the line is not UTF-8") from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise ExportInvalid(number, "the line is blank")
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as repeated:
        raise ExportInvalid(
            number,
            f"the line repeats the key {repeated.key!r}: parsers disagree on which value counts",
        ) from None
    except ValueError:
        raise ExportInvalid(number, "the line is not JSON") from None
    if not isinstance(value, dict):
        raise ExportInvalid(number, "the line is not a JSON object")
    return value


class _RepeatedKey(Exception):  # not a ValueError, which json.loads raises for bad JSON
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every JSON object, at any depth, as a dict; a key given twice is refused."""
    value = dict(pairs)
    if len(value) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(next(key for index, key in enumerate(keys) if key in keys[:index]))
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
    try:
        digest = chain_hash(prev, canonical_json(body))
    except UnicodeEncodeError:  # a "\\u" escape of half a surrogate pair: not UTF-8 text
        raise ExportInvalid(number, "the line holds a lone surrogate escape") from None
    if line["hash"] != digest:
        raise ExportInvalid(number, "hash does not match the line's content: the line was altered")
    return digest


def _trailer(number: int, line: dict[str, Any], count: int, prev: str) -> None:
    unsigned = set(line) == UNSIGNED_TRAILER_KEYS
    _keys(number, line, UNSIGNED_TRAILER_KEYS if unsigned else TRAILER_KEYS, "trailer")
    if line["count"] != count or isinstance(line["count"], bool):
        raise ExportInvalid(number, f"the trailer counts {line['count']!r} events, not {count}")
    if not isinstance(line["final_hash"], str) or not _HEX64.fullmatch(line["final_hash"]):
        raise ExportInvalid(number, "the trailer's final_hash is not a SHA-256 hex digest")
    if line["final_hash"] != prev:
        raise ExportInvalid(number, "the trailer's final_hash is not the hash of the last event")
    if unsigned:
        return
    if not isinstance(line["key_id"], str) or not _KEY_ID.fullmatch(line["key_id"]):
        raise ExportInvalid(number, "the trailer's key_id is not 16 hex digits")
    if not isinstance(line["signature"], str) or len(_signature_bytes(line)) != SIGNATURE_BYTES:
        raise ExportInvalid(number, "the trailer's signature is not the base64 of 64 bytes")


def _signature_bytes(trailer: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(trailer["signature"], validate=True)
    except binascii.Error:
        return b""


def _signature(
    number: int, header: dict[str, Any], trailer: dict[str, Any], public: Ed25519PublicKey
) -> None:
    if "signature" not in trailer:
        raise ExportInvalid(
            number,
            "the trailer is not signed (as before exports were signed): nothing proves that "
            "the export is whole and unaltered",
        )
    if trailer["key_id"] != key_id(public):
        raise ExportInvalid(
            number,
            f"the trailer was signed with key {trailer['key_id']}, not with the given key "
            f"{key_id(public)}",
        )
    try:
        public.verify(_signature_bytes(trailer), signed_message(header, trailer))
    except (InvalidSignature, UnicodeEncodeError):  # the latter: a lone surrogate in the header
        raise ExportInvalid(
            number,
            "the trailer's signature does not match: the export was cut short, altered and "
            "re-hashed, or given another header",
        ) from None
