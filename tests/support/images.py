"""Image files built by hand that claim any size: real headers of each accepted format, with a
little padding after them in place of the pixels (nothing here is ever decoded)."""

from __future__ import annotations

import struct
import zlib

PADDING = bytes(range(256))


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc + PADDING


def jpeg(width: int, height: int) -> bytes:
    """JFIF, a comment and a quantisation table before the frame header, as cameras write."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 5) + b"hello"
    dqt = b"\xff\xdb" + struct.pack(">H", 2 + 65) + bytes(65)
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof = b"\xff\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + comment + dqt + sof + PADDING


def _riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_lossy(width: int, height: int) -> bytes:
    frame = b"\x30\x01\x00\x9d\x01\x2a" + struct.pack("<HH", width, height)
    return _riff(b"VP8 ", frame + PADDING)


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | (height - 1) << 14
    return _riff(b"VP8L", b"\x2f" + bits.to_bytes(4, "little") + PADDING)


def webp_extended(width: int, height: int) -> bytes:
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return _riff(b"VP8X", b"\x00\x00\x00\x00" + canvas) + PADDING


def gif(width: int, height: int, *, frame: tuple[int, int] | None = None) -> bytes:
    """A GIF with a 2-colour table and one frame (as big as the screen unless ``frame`` says)."""
    frame_width, frame_height = frame or (width, height)
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + bytes(6)
    control = b"\x21\xf9\x04\x00\x00\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, frame_width, frame_height, 0)
    pixels = b"\x02\x02\x44\x01\x00"
    return screen + control + image + pixels + b"\x3b"


BUILDERS = {
    "png": png,
    "jpeg": jpeg,
    "webp lossy": webp_lossy,
    "webp lossless": webp_lossless,
    "webp extended": webp_extended,
    "gif": gif,
}
# Largest the lossy and lossless WebP headers can claim is 16383 x 16383 (268 million pixels).
HUGE = (16_000, 16_000)
