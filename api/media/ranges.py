"""HTTP conditional and range requests for stored media (RFC 9110 §13, §14), as pure functions.

Media is content-addressed, so its SHA-256 is a strong ETag that never changes. One byte range
is served as 206; several ranges, another unit or a malformed header get the whole body (a
server may ignore ``Range``), and a range wholly past the end gets 416.

Starlette's ``FileResponse`` also serves ranges, but not by these rules: it answers several
ranges with ``multipart/byteranges``, a malformed header or another unit with 400, and 416 with
a plain-text body instead of our JSON error; it also serves only local files, while the same
rules must hold for media streamed from GCS. So the local store is read through these functions
like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_BYTE_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")
MAX_HEADER_CHARS: Final = 200  # real Range headers are short; longer ones are ignored


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive, as ``Content-Range`` counts them."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class Unsatisfiable(Exception):
    """The range starts past the end of the content: answer 416."""


def strong_etag(sha256: str) -> str:
    return f'"{sha256}"'


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range ``header`` asks for, or None to send everything.

    Raises ``Unsatisfiable`` for a well-formed range that selects no byte of the content.
    """
    if not header or len(header) > MAX_HEADER_CHARS:
        return None
    match = _BYTE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None  # another unit, several ranges, or garbage: ignored
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # an invalid range-spec: the header is ignored
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size - 1))


def none_match(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names this entity (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def range_applies(if_range: str | None, etag: str) -> bool:
    """``If-Range``: serve the range only if the client's copy is this entity (strong match)."""
    return if_range is None or if_range.strip() == etag
