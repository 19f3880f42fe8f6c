"""The text and free-JSON rules of domain/inputs.py, and reading back what older code stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventsourcing.persistence import JSONTranscoder

from domain.inputs import MAX_JSON_DEPTH, clean_line, json_problem, line_problem, text_problem
from domain.transcoding import ReadSafeTranscoder


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "\ud800"])
def test_a_line_holds_no_control_character_or_lone_surrogate(char: str) -> None:
    assert line_problem(f"a{char}b")


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1b", "\x7f", "\udfff"])
def test_free_text_holds_no_control_character_but_tabs_and_line_breaks(char: str) -> None:
    assert text_problem(f"a{char}b")
    assert text_problem("line\r\n\tnext") is None


def test_rtl_marks_emoji_and_accents_are_ordinary_text() -> None:
    assert line_problem("\u200f\u202eé\U0001f600") is None


def test_cleaning_drops_what_a_line_may_not_hold() -> None:
    assert clean_line(" An\x00n\ud800\x1b ") == "Ann"


def test_free_json_is_finite_and_bounded() -> None:
    assert json_problem(nested(MAX_JSON_DEPTH)) is None
    assert json_problem(nested(MAX_JSON_DEPTH + 1))
    assert json_problem({"luck": float("nan")})
    assert json_problem([float("-inf")])
    assert json_problem({"\ud800": 1})
    assert json_problem({"ok": ["\u202e", 1.5, None, True]}) is None


def test_reading_turns_non_finite_numbers_into_null() -> None:
    stored = b'{"settings":{"a":NaN,"b":[Infinity,-Infinity]}}'
    assert ReadSafeTranscoder().decode(stored) == {"settings": {"a": None, "b": [None, None]}}


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 300, 5000])
def test_reading_cuts_free_json_nested_deeper_than_the_domain_accepts(levels: int) -> None:
    stored = '{"settings":' + '{"a":' * levels + "1" + "}" * levels + ',"title":"t"}'
    state = ReadSafeTranscoder().decode(stored.encode())
    depth, value = 0, state["settings"]
    while isinstance(value, dict):
        depth, value = depth + 1, value["a"]
    assert depth == MAX_JSON_DEPTH
    assert value is None
    assert state["title"] == "t"


def test_reading_what_the_domain_accepts_is_unchanged() -> None:
    state = {"settings": nested(MAX_JSON_DEPTH - 1), "members": {str(n): {} for n in range(99)}}
    stored = json.dumps(state).encode()
    assert ReadSafeTranscoder().decode(stored) == JSONTranscoder().decode(stored) == state
