"""The audit export format ``gaia-export/1`` (NDJSON with a SHA-256 hash chain and a signed
trailer): writing it from a session's stream, page by page, and verifying a file line by line.

A header line, one line per stored event, a trailer. Each event line carries ``prev_hash`` and
``hash`` = SHA-256 hex of ``prev_hash`` + the canonical JSON of the line without those two keys
(keys sorted, separators ``,`` and ``:``, UTF-8, non-ASCII unescaped); the first ``prev_hash`` is
64 zeros. The trailer's Ed25519 ``signature`` covers the header and the rest of the trailer
(count, final hash, key id), so a file cut short, re-hashed after an edit, or given another
header no longer checks out against the service's public key. A line that repeats a key is
refused: parsers disagree on which of the values counts. ``docs/export.md`` tells anyone how to
check a file without this code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain import roles
from domain.application import Sessions
from projections.records import EventRecord, StoredRecords, shown_to

FORMAT: Final = "gaia-export/1"
ZERO_HASH: Final = "0" * 64
CHUNK: Final = 5000  # events read from the store per query (and sent per block) while exporting

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
ALGORITHM: Final = "Ed25519"
RAW_KEY_BYTES: Final = 32  # an Ed25519 private or public key, raw
SIGNATURE_BYTES: Final = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: keys sorted, no spaces, non-ASCII kept as is."""
    return _CANONICAL.encode(value)


# orjson refuses (so the standard library writes) subclasses of str, int, dict and list,
# instants and dataclasses, and integers beyond 64 bits.
_ORJSON: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_NUMBER_ENDS: Final = (b",", b"]", b"}", b"")


def _unlike_repr(text: bytes) -> bool:
    """Whether orjson's ``text`` may hold a float it writes unlike ``repr``: only below 1e-4,
    as "0.00001" for "1e-05" or "1e-7" for "1e-07". A string holding such text answers yes too
    (the standard library then writes it, to the same bytes); found without a regex, which
    would cost as much as the writing."""
    if b"0.0000" in text:
        return True
    at = text.find(b"e-")
    while at != -1:
        if (
            text[at + 3 : at + 4] in _NUMBER_ENDS
            and text[at + 2 : at + 3].isdigit()
            and text[at - 1 : at].isdigit()
        ):
            return True
        at = text.find(b"e-", at + 2)
    return False


def canonical_bytes(value: Any, *, plain: bool = False) -> bytes:
    """``canonical_json(value)`` as UTF-8. With ``plain`` (no value but what ``orjson.loads``
    makes: nothing non-finite, which orjson would write as null) orjson writes it, unless
    the result holds a float orjson writes unlike the standard library."""
    if plain:
        try:
            text = orjson.dumps(value, option=_ORJSON)
        except orjson.JSONEncodeError:
            pass
        else:
            if not _unlike_repr(text):
                return text
    return _CANONICAL.encode(value).encode("utf-8")


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def signed_message(header: dict[str, Any], trailer: dict[str, Any]) -> bytes:
    """What the trailer's signature covers: the canonical JSON, UTF-8, of ``{"header": the header
    line, "trailer": the trailer line without its signature}``."""
    unsigned = {key: value for key, value in trailer.items() if key != "signature"}
    return canonical_json({"header": header, "trailer": unsigned}).encode("utf-8")


# -- keys ------------------------------------------------------------------------------------


class KeyInvalid(ValueError):
    """A text that is not an Ed25519 key in a form we read."""


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key in trailers."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _raw_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != RAW_KEY_BYTES:
        raise KeyInvalid(
            f"the {what} key is neither PEM nor the base64 of {RAW_KEY_BYTES} raw bytes"
        )
    return raw


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8, unencrypted) or the base64 of its 32 bytes."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.strip().encode(), password=None)
        except (ValueError, TypeError):
            raise KeyInvalid("the private key PEM cannot be read (encrypted or damaged)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyInvalid("the private key PEM is not an Ed25519 key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw_key(text, "private"))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) or the base64 of its 32 bytes."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.strip().encode())
        except (ValueError, TypeError):
            raise KeyInvalid("the public key PEM cannot be read") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyInvalid("the public key PEM is not an Ed25519 key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw_key(text, "public"))


def new_private_key_text() -> str:
    """A fresh Ed25519 private key as the base64 of its 32 raw bytes."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


class ExportSigner:
    """Signs export trailers with one Ed25519 private key, and describes its public half."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, header: dict[str, Any], trailer: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(signed_message(header, trailer))).decode()

    def public_doc(self) -> dict[str, str]:
        """The public key as ``GET /api/export-key`` and ``python -m api export-key`` show it."""
        pem = self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(_raw_public(self.public)).decode(),
            "pem": pem.decode(),
        }


def event_line(record: EventRecord, prev_hash: str) -> tuple[str, str]:
    """One event line (without its newline) from an ``event_record``, and its hash."""
    line, digest = event_line_bytes(record, prev_hash)
    return line.decode("utf-8"), digest


def event_line_bytes(
    record: EventRecord, prev_hash: str, *, plain: bool = False
) -> tuple[bytes, str]:
    """``event_line`` as UTF-8; ``plain``: as ``canonical_bytes`` takes it."""
    body = {
        "type": "event",
        "version": record["version"],
        "event_type": record["type"],
        "recorded_at": record["recorded_at"],
        "occurred_at": record["occurred_at"],
        "actor": record["actor"],
        "data": record["data"],
    }
    canonical = canonical_bytes(body, plain=plain)
    prev = prev_hash.encode("ascii")
    digest = hashlib.sha256(prev + canonical).hexdigest()
    # The hashed text itself, with the two hashes appended: no second serialisation needed.
    hashes = b',"prev_hash":"%s","hash":"%s"}' % (prev, digest.encode("ascii"))
    return canonical[:-1] + hashes, digest


def export_ndjson(
    sessions: Sessions,
    session_id: UUID,
    *,
    title: str,
    until: int,
    exported_at: str,
    signer: ExportSigner,
    chunk: int = CHUNK,
    role: str = roles.OWNER,
) -> Iterator[str]:
    """``export_bytes`` as text."""
    for block in export_bytes(
        sessions,
        session_id,
        title=title,
        until=until,
        exported_at=exported_at,
        signer=signer,
        chunk=chunk,
        role=role,
    ):
        yield block.decode("utf-8")


def export_bytes(
    sessions: Sessions,
    session_id: UUID,
    *,
    title: str,
    until: int,
    exported_at: str,
    signer: ExportSigner,
    chunk: int = CHUNK,
    role: str = roles.OWNER,
) -> Iterator[bytes]:
    """The export of versions 1..``until`` as text blocks of whole lines, one block per page,
    the trailer signed by ``signer``.

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
    yield canonical_bytes(header) + b"\n"
    prev, count, after = ZERO_HASH, 0, 0
    records = StoredRecords(sessions.mapper)
    while after < until:
        page = sessions.recorder.select_events(session_id, gt=after, lte=until, limit=chunk)
        if not page:
            break
        lines = []
        for stored in page:
            record, plain = records.record_and_plain(stored)
            line, prev = event_line_bytes(shown_to(record, role), prev, plain=plain)
            lines.append(line)
        count += len(page)
        after = page[-1].originator_version
        lines.append(b"")
        yield b"\n".join(lines)
    trailer: dict[str, Any] = {
        "type": "trailer",
        "count": count,
        "final_hash": prev,
        "key_id": signer.key_id,
    }
    trailer["signature"] = signer.sign(header, trailer)
    yield canonical_bytes(trailer) + b"\n"


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
