"""Media facts that the API and the migration job must agree on: where bytes live (keys derived
from their SHA-256) and what the bytes are (a type sniffed from their first bytes, never taken
from a client's word).

Pure functions over bytes and strings; the stores that use the keys live in
``domain.adapters.media``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# The bytes ``sniff`` needs to decide; a shorter file is never any of the types.
SNIFF_BYTES: Final = 12

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"sha256/([0-9a-f]{2})/([0-9a-f]{64})")


class InvalidDigest(ValueError):
    """Not a SHA-256 digest as 64 lower-case hex digits."""


def storage_key(sha256_hex: str) -> str:
    """The store key of the bytes with this digest: ``sha256/<first two hex digits>/<hex>``.

    Both the local directory and a GCS prefix use this key below their root, so identical bytes
    are stored once, and the API and the migration job always find each other's objects.
    """
    if not _SHA256_HEX.fullmatch(sha256_hex):
        raise InvalidDigest(f"not a lower-case hex SHA-256 digest: {sha256_hex[:80]!r}")
    return f"sha256/{sha256_hex[:2]}/{sha256_hex}"


def is_storage_key(key: str) -> bool:
    """True for exactly the keys ``storage_key`` produces (nothing else may reach a store)."""
    match = _KEY.fullmatch(key)
    return match is not None and match.group(2).startswith(match.group(1))


@dataclass(frozen=True)
class MediaType:
    """A media type this service accepts: its kind, MIME type and usual file extension."""

    kind: str  # "image" | "audio"
    content_type: str
    extension: str


PNG: Final = MediaType("image", "image/png", "png")
JPEG: Final = MediaType("image", "image/jpeg", "jpg")
WEBP: Final = MediaType("image", "image/webp", "webp")
GIF: Final = MediaType("image", "image/gif", "gif")
MP3: Final = MediaType("audio", "audio/mpeg", "mp3")
OGG: Final = MediaType("audio", "audio/ogg", "ogg")
WAV: Final = MediaType("audio", "audio/wav", "wav")

_MPEG_SYNC = 0xE0  # the top three bits of a frame header's second byte, after 0xFF
_MPEG_LAYER = 0x06  # layer bits: 00 is reserved (and marks AAC's ADTS headers)
_MPEG_BITRATE = 0xF0  # bitrate index 1111 is invalid
_MPEG_SAMPLE_RATE = 0x0C  # sample-rate index 11 is reserved


def sniff(head: bytes) -> MediaType | None:
    """The type of a file from its first ``SNIFF_BYTES`` bytes, or None for anything else."""
    return next((media_type for test, media_type in _MAGIC if test(head)), None)


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header (MP3 without an ID3 tag): sync bits and valid fields."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & _MPEG_SYNC != _MPEG_SYNC:  # noqa: PLR2004
        return False
    return (
        head[1] & _MPEG_LAYER != 0
        and head[2] & _MPEG_BITRATE != _MPEG_BITRATE
        and head[2] & _MPEG_SAMPLE_RATE != _MPEG_SAMPLE_RATE
    )


_MAGIC: Final[tuple[tuple[Callable[[bytes], bool], MediaType], ...]] = (
    (lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"), PNG),
    (lambda head: head.startswith(b"\xff\xd8\xff"), JPEG),
    (lambda head: head.startswith((b"GIF87a", b"GIF89a")), GIF),
    (lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP", WEBP),
    (lambda head: head[:4] == b"RIFF" and head[8:12] == b"WAVE", WAV),
    (lambda head: head.startswith(b"OggS"), OGG),
    (lambda head: head.startswith(b"ID3") or _is_mpeg_audio_frame(head), MP3),
)


def upload_filename(media_id: str, media_type: MediaType) -> str:
    """The name an uploaded or generated file goes by: ``<media_id>.<ext>``."""
    return f"{media_id}.{media_type.extension}"
