"""An image's size in pixels, read from its header without decoding it.

A small file can claim a canvas that takes gigabytes to decode (a 2.6 MB PNG of 2.7 GB), and
every member's browser decodes what we serve; so uploads are refused by the size they claim.
Each reader takes the same fields a decoder sizes its canvas by: PNG's IHDR, JPEG's start of
frame, WebP's VP8, VP8L or VP8X header, and for GIF the logical screen widened by any frame that
reaches past it. A header these readers cannot make out gives None: no decoder can size (or
show) such an image either.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import IO, Final

from domain.media import GIF, JPEG, PNG, WEBP, MediaType

Reader = Callable[[IO[bytes]], tuple[int, int] | None]

# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length follows
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
MAX_JPEG_SEGMENTS: Final = 10_000  # a real file reaches its frame header within a few dozen
_GIF_IMAGE, _GIF_EXTENSION, _GIF_TRAILER = 0x2C, 0x21, 0x3B
_GIF_COLOR_TABLE = 0x80  # the flag bit of a global or local colour table
MAX_GIF_FRAMES: Final = 10_000


def image_size(file: IO[bytes], media_type: MediaType) -> tuple[int, int] | None:
    """``(width, height)`` as the header of ``file`` claims it, or None if it cannot be read."""
    reader = _READERS.get(media_type)
    if reader is None:
        return None
    file.seek(0)
    try:
        return reader(file)
    except (struct.error, IndexError):  # the header ends early
        return None


def _png(file: IO[bytes]) -> tuple[int, int] | None:
    head = file.read(24)
    if head[12:16] != b"IHDR":  # IHDR is always the first chunk
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg(file: IO[bytes]) -> tuple[int, int] | None:
    """Walk the marker segments from the start of the image to the first frame header."""
    file.seek(2)
    for _ in range(MAX_JPEG_SEGMENTS):
        byte = file.read(1)
        if byte != b"\xff":
            return None
        marker = file.read(1)
        while marker == b"\xff":  # fill bytes before a marker
            marker = file.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in _STANDALONE or code == _SOI:
            continue
        if code in (_EOI, _SOS):  # no frame header before the scan: not an image to size
            return None
        (length,) = struct.unpack(">H", file.read(2))
        if code in _SOF:
            _precision, height, width = struct.unpack(">BHH", file.read(5))
            return (width, height) if height else None  # 0: defined later (DNL), unsupported
        if length < 2:  # noqa: PLR2004 - the length counts its own two bytes
            return None
        file.seek(length - 2, 1)
    return None


def _webp(file: IO[bytes]) -> tuple[int, int] | None:
    head = file.read(30)
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # a key frame's start code
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:  # noqa: PLR2004 - the lossless signature
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def _gif(file: IO[bytes]) -> tuple[int, int] | None:
    """The logical screen, widened by every frame that reaches past it (browsers grow it)."""
    head = file.read(13)
    width, height, flags = struct.unpack("<HHB", head[6:11])
    _skip_color_table(file, flags)
    for _ in range(MAX_GIF_FRAMES):
        introducer = file.read(1)
        if not introducer or introducer[0] == _GIF_TRAILER:
            break
        if introducer[0] == _GIF_EXTENSION:
            file.read(1)  # the extension's label
            _skip_sub_blocks(file)
        elif introducer[0] == _GIF_IMAGE:
            left, top, frame_width, frame_height, flags = struct.unpack("<HHHHB", file.read(9))
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            _skip_color_table(file, flags)
            file.read(1)  # the LZW minimum code size
            _skip_sub_blocks(file)
        else:
            break  # not a block GIF knows: decoders stop here too
    return width, height


def _skip_color_table(file: IO[bytes], flags: int) -> None:
    if flags & _GIF_COLOR_TABLE:
        file.seek(3 * 2 ** ((flags & 0x07) + 1), 1)


def _skip_sub_blocks(file: IO[bytes]) -> None:
    while (size := file.read(1)) and size[0]:
        file.seek(size[0], 1)


_READERS: Final[dict[MediaType, Reader]] = {PNG: _png, JPEG: _jpeg, WEBP: _webp, GIF: _gif}
