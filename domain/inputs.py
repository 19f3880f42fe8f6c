"""What the domain accepts as text and as free JSON values, checked in one place.

A line (a title, a name, an id, a key) holds no control character at all; free text (a turn's
text) may hold tabs and line breaks but no other C0 control. Neither may hold DEL or a lone
surrogate. Free JSON (campaign settings, game state) holds only finite numbers, nests at most
``MAX_JSON_DEPTH`` levels and carries no lone surrogate. Such characters serve no player, and a
view table cannot store some of them (PostgreSQL text refuses NUL; UTF-8 has no lone surrogate).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from domain.errors import RuleViolation

# Deeper than any campaign needs; the read side cuts stored values deeper than this
# (domain/transcoding.py), so everything the domain accepts reads back whole.
MAX_JSON_DEPTH: Final = 64

_NOT_IN_LINE: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_NOT_IN_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class InvalidText(RuleViolation):
    code = "invalid_text"


class InvalidJson(RuleViolation):
    code = "invalid_json"


def line_problem(value: str) -> str | None:
    """Why ``value`` cannot be a line (a title, a name, an id), or None if it can."""
    found = _NOT_IN_LINE.search(value)
    return None if found is None else f"holds the character {_describe(found.group())}"


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be free text (tabs and line breaks allowed), or None if it can."""
    found = _NOT_IN_TEXT.search(value)
    return None if found is None else f"holds the character {_describe(found.group())}"


def clean_line(value: str) -> str:
    """``value`` with every character a line may not hold removed, and trimmed."""
    return _NOT_IN_LINE.sub("", value).strip()


def check_line(value: str | None, field: str) -> None:
    if value is not None and (problem := line_problem(value)):
        raise InvalidText(f"{field} {problem}", field=field)


def check_text(value: str | None, field: str) -> None:
    if value is not None and (problem := text_problem(value)):
        raise InvalidText(f"{field} {problem}", field=field)


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``value`` cannot be stored as free JSON, or None if it can. Walks without recursion,
    so a value nested far deeper than the limit is judged as cheaply as a shallow one."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth + 1 > max_depth:
                return f"nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                if any(isinstance(key, str) and _SURROGATE.search(key) for key in item):
                    return "holds a lone surrogate"
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return "holds a number that is not finite (NaN or Infinity)"
        elif isinstance(item, str) and _SURROGATE.search(item):
            return "holds a lone surrogate"
    return None


def check_json(value: Any, field: str) -> None:
    if problem := json_problem(value):
        raise InvalidJson(f"{field} {problem}", field=field)


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"
