"""How stored events and snapshots turn back into values, such that no stored event can break a
read: a non-finite number (``NaN``, ``Infinity``) reads as null, and a value nested deeper than
any the write side accepts now reads with its too-deep parts as null.

Older code stored both (campaign settings nested 900 deep, ``NaN`` in them); the first broke
every read of its session (a recursion limit in decoding, copying or serialising) and the
second is not JSON a browser can parse. Writing keeps the library's encoding unchanged; the
domain refuses such values before they are written (domain/inputs.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from eventsourcing.persistence import JSONTranscoder

from domain.inputs import MAX_JSON_DEPTH

# Nesting of the stored text kept when it is too deep to decode at all: an accepted value sits
# a few levels below the top of an event's or a snapshot's state, so nothing accepted is cut.
READ_DEPTH: Final = MAX_JSON_DEPTH + 8
# The fields of events and snapshots that hold free JSON (settings, narration and game data,
# imported legacy content): the only places a value can nest deeply.
FREE_FIELDS: Final = frozenset({"settings", "structured", "data", "content", "legacy", "origin"})

_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _no_constant(_name: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` read as null."""
    return None


class ReadSafeTranscoder(JSONTranscoder):
    """The library's JSON transcoder, decoding defensively (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = json.JSONDecoder(object_hook=self._decode_obj, parse_constant=_no_constant)

    def decode(self, data: bytes) -> Any:
        text = data.decode("utf8", "replace")
        try:
            state = self.decoder.decode(text)
        except RecursionError:
            state = self.decoder.decode(cut_deeper(text, READ_DEPTH))
        # Fewer brackets than the limit cannot nest deeper than it: most states stop here.
        if isinstance(state, dict) and text.count("{") + text.count("[") > MAX_JSON_DEPTH:
            for name in FREE_FIELDS & state.keys():
                state[name] = cut_value(state[name], MAX_JSON_DEPTH)
        return state


def cut_value(value: Any, depth: int) -> Any:
    """``value`` with every object or array that would sit deeper than ``depth`` replaced by
    None, changed in place (walked without recursion)."""
    if not isinstance(value, dict | list) or depth < 1:
        return value if not isinstance(value, dict | list) else None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, level = stack.pop()
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for key in keys:
            child = container[key]
            if isinstance(child, dict | list):
                if level == depth:
                    container[key] = None
                else:
                    stack.append((child, level + 1))
    return value


def cut_deeper(text: str, depth: int) -> str:
    """The JSON ``text`` with every object or array that would sit deeper than ``depth``
    replaced by ``null`` (read token by token, without recursion)."""
    pieces: list[str] = []
    level, kept_until, cut_from = 0, 0, -1
    for token in _TOKEN.finditer(text):
        char = token.group()[0]
        if char in "{[":
            level += 1
            if level == depth + 1:
                cut_from = token.start()
        elif char in "}]":
            if level == depth + 1:
                pieces.append(text[kept_until:cut_from] + "null")
                kept_until = token.end()
            level -= 1
    pieces.append(text[kept_until:])
    return "".join(pieces)
