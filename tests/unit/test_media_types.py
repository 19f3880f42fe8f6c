"""What bytes are (sniffed from their first bytes) and where they are kept (keys from digests)."""

from __future__ import annotations

import pytest

from domain.media import (
    GIF,
    JPEG,
    MP3,
    OGG,
    PNG,
    SNIFF_BYTES,
    WAV,
    WEBP,
    InvalidDigest,
    MediaType,
    is_storage_key,
    sniff,
    storage_key,
    upload_filename,
)
from tests.support.media import SAMPLES, SCRIPT

EXPECTED = {
    "png": PNG,
    "jpeg": JPEG,
    "webp": WEBP,
    "gif": GIF,
    "mp3 with id3": MP3,
    "mp3 frame": MP3,
    "ogg": OGG,
    "wav": WAV,
}
DIGEST = "ab" + "0123456789abcdef" * 3 + "0123456789abcd"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_accepted_type_is_recognised_by_its_first_bytes(name: str) -> None:
    data, content_type, extension = SAMPLES[name]
    media_type = sniff(data[:SNIFF_BYTES])
    assert media_type == EXPECTED[name]
    assert (media_type.content_type, media_type.extension) == (content_type, extension)


@pytest.mark.parametrize(
    "head",
    [
        SCRIPT,
        b"<html><script>alert(1)</script>",
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"%PDF-1.7\n",
        b"PK\x03\x04zip",
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"",
        b"\x89PN",
    ],
    ids=["script", "html", "svg", "pdf", "zip", "avi", "empty", "short png"],
)
def test_anything_else_is_not_recognised(head: bytes) -> None:
    assert sniff(head[:SNIFF_BYTES]) is None


@pytest.mark.parametrize(
    "head",
    [
        b"\xff\xf1\x50\x80",  # AAC ADTS: layer bits 00
        b"\xff\xfb\xf0\x64",  # bitrate index 1111
        b"\xff\xfb\x9c\x64",  # sample-rate index 11
        b"\xff\xd8\xff\xe0",  # JPEG, which also starts with 0xFF
    ],
    ids=["aac", "bad bitrate", "bad sample rate", "jpeg"],
)
def test_an_mpeg_frame_header_needs_valid_fields_to_count_as_mp3(head: bytes) -> None:
    assert sniff(head) != MP3


def test_a_storage_key_fans_out_by_the_first_two_hex_digits() -> None:
    assert storage_key(DIGEST) == f"sha256/ab/{DIGEST}"
    assert is_storage_key(storage_key(DIGEST))


@pytest.mark.parametrize(
    "digest",
    [DIGEST.upper(), DIGEST[:-1], DIGEST + "0", "../" + DIGEST[3:], "", "z" * 64],
    ids=["upper case", "short", "long", "traversal", "empty", "not hex"],
)
def test_only_a_sha256_hex_digest_makes_a_key(digest: str) -> None:
    with pytest.raises(InvalidDigest):
        storage_key(digest)


@pytest.mark.parametrize(
    "key",
    [
        f"sha256/cd/{DIGEST}",  # the fan-out directory does not match the digest
        f"sha256/ab/{DIGEST}/../../x",
        f"/sha256/ab/{DIGEST}",
        f"sha256\\ab\\{DIGEST}",
        f"sha256/ab/{DIGEST}\x00",
        f"md5/ab/{DIGEST}",
        "../../etc/passwd",
    ],
    ids=["wrong fan-out", "traversal", "absolute", "backslashes", "nul", "other scheme", "etc"],
)
def test_nothing_but_an_exact_key_is_a_storage_key(key: str) -> None:
    assert not is_storage_key(key)


def test_an_upload_is_named_by_its_id_and_the_extension_of_its_bytes() -> None:
    assert upload_filename("m-1", MediaType("audio", "audio/mpeg", "mp3")) == "m-1.mp3"
