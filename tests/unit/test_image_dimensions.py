"""Reading an image's size from its header, for each accepted image format, without decoding."""

from __future__ import annotations

import io

import pytest

from api.media.dimensions import image_size
from domain.media import GIF, JPEG, PNG, WEBP, sniff
from tests.support.images import BUILDERS, HUGE, gif, jpeg, png, webp_extended
from tests.support.media import SAMPLES

TYPES = {"png": PNG, "jpeg": JPEG, "gif": GIF} | dict.fromkeys(
    ("webp lossy", "webp lossless", "webp extended"), WEBP
)


def size_of(data: bytes) -> tuple[int, int] | None:
    media_type = sniff(data[:12])
    assert media_type is not None
    return image_size(io.BytesIO(data), media_type)


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (4000, 3), HUGE])
def test_each_format_tells_the_size_its_header_claims(name: str, size: tuple[int, int]) -> None:
    data = BUILDERS[name](*size)
    assert sniff(data[:12]) == TYPES[name]
    assert size_of(data) == size


def test_a_gif_frame_past_the_logical_screen_widens_it_as_browsers_do() -> None:
    assert size_of(gif(10, 10, frame=(50_000, 20))) == (50_000, 20)


def test_the_extended_webp_canvas_can_claim_more_than_the_simple_headers() -> None:
    assert size_of(webp_extended(2**24, 2**24)) == (2**24, 2**24)


@pytest.mark.parametrize("name", ["png", "jpeg", "webp"])
def test_a_header_that_cannot_be_read_tells_no_size(name: str) -> None:
    """The test suite's smallest samples: the right first bytes, then no real header."""
    assert size_of(SAMPLES[name][0]) is None


@pytest.mark.parametrize(
    "data", [png(10, 10)[:20], jpeg(10, 10)[:60], jpeg(10, 10)[:100], gif(10, 10)[:9]]
)
def test_a_header_cut_short_tells_no_size(data: bytes) -> None:
    assert size_of(data) is None


def test_a_jpeg_whose_scan_starts_before_any_frame_header_tells_no_size() -> None:
    assert size_of(b"\xff\xd8\xff\xda\x00\x08" + bytes(64)) is None
