"""Range and conditional requests on stored media: which bytes, and when nothing is sent."""

from __future__ import annotations

import pytest

from api.media.ranges import (
    ByteRange,
    Unsatisfiable,
    none_match,
    parse_range,
    range_applies,
    strong_etag,
)

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=0-", ByteRange(0, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=999-999", ByteRange(999, 999)),
        ("bytes = 5 - 9", ByteRange(5, 9)),
    ],
    ids=[
        "first 100",
        "open-ended",
        "everything",
        "suffix",
        "long suffix",
        "past the end",
        "last byte",
        "spaces",
    ],
)
def test_one_byte_range_selects_those_bytes(header: str, expected: ByteRange) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=0-1,5-6",
        "items=0-5",
        "bytes=9-5",
        "bytes=-",
        "bytes=a-b",
        "0-5",
        "bytes=" + "1" * 300 + "-",
    ],
    ids=[
        "absent",
        "empty",
        "several ranges",
        "other unit",
        "reversed",
        "no numbers",
        "not numbers",
        "no unit",
        "overlong",
    ],
)
def test_a_range_we_do_not_serve_means_the_whole_body(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", SIZE), ("bytes=5000-6000", SIZE), ("bytes=-0", SIZE), ("bytes=0-", 0)],
    ids=["starts at the end", "starts past the end", "empty suffix", "empty file"],
)
def test_a_range_that_selects_no_byte_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_a_content_range_counts_inclusive_bytes_of_the_whole() -> None:
    assert ByteRange(900, 999).content_range(SIZE) == "bytes 900-999/1000"
    assert ByteRange(900, 999).length == 100


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"x"', False),
        ("abc", False),
        (None, False),
    ],
    ids=["same", "weak", "in a list", "any", "other", "unquoted", "absent"],
)
def test_if_none_match_recognises_the_entity(header: str | None, matches: bool) -> None:
    assert none_match(header, strong_etag("abc")) is matches


def test_if_range_keeps_the_range_only_for_the_same_entity() -> None:
    etag = strong_etag("abc")
    assert range_applies(None, etag)
    assert range_applies('"abc"', etag)
    assert not range_applies('"old"', etag)
    assert not range_applies('W/"abc"', etag)
