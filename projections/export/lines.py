"""The bytes of a ``gaia-export/1`` file: the canonical JSON that is hashed, the SHA-256 chain,
and one event line written from a record with the hashed text itself."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import orjson

from projections.records import EventRecord

FORMAT: Final = "gaia-export/1"
ZERO_HASH: Final = "0" * 64


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


def event_line_bytes(
    record: EventRecord, prev_hash: str, *, plain: bool = False
) -> tuple[bytes, str]:
    """One event line (without its newline) from an ``event_record``, as UTF-8, and its hash;
    ``plain``: as ``canonical_bytes`` takes it."""
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
