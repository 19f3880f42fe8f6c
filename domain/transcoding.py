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

import orjson
from eventsourcing.persistence import JSONTranscoder

from domain.inputs import MAX_JSON_DEPTH

# Nesting of the stored text kept when it is too deep to decode at all: an accepted value sits
# a few levels below the top of an event's or a snapshot's state, so nothing accepted is cut.
READ_DEPTH: Final = MAX_JSON_DEPTH + 8
# The fields of events and snapshots that hold free JSON (settings, narration and game data,
# imported legacy content): the only places a value can nest deeply.
FREE_FIELDS: Final = frozenset({"settings", "structured", "data", "content", "legacy", "origin"})

_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_TYPE: Final = "_type_"  # the key of a stored value's type name: {"_type_": ..., "_data_": ...}
_TYPE_KEY: Final = b'"_type_"'
# A run of 19 digits (once every digit is made a 0) may be a number beyond 64 bits, which
# orjson would read as a float. A search of the translated bytes costs a tenth of a regex's.
_ALL_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS: Final = b"0" * 19
# Stored values an event's state holds at most at its top level (ids and instants): a state
# with more, as a snapshot of a whole session, has them nested and is read the library's way
# straight away.
_TOP_LEVEL_MOST: Final = 16


def _no_constant(_name: str) -> None:
    """``NaN``, ``Infinity`` and ``-Infinity`` read as null."""
    return None


def parse_plain(data: bytes) -> Any:
    """``data`` parsed by orjson, without any decoding of stored values, or ``NotImplemented``
    where orjson might read it otherwise than the standard library's decoder with ``NaN`` as
    null: orjson refuses ``NaN``, lone surrogates, bytes that are not UTF-8, nesting past
    1,024 and numbers too large for a double, and reads an integer beyond 64 bits as a float,
    so a run of 19 digits is left to the standard library. States that nest deeper than
    ``MAX_JSON_DEPTH`` have their free fields cut as ``ReadSafeTranscoder.decode`` cuts them."""
    if _LONG_DIGITS in data.translate(_ALL_ZERO):
        return NotImplemented
    try:
        state = orjson.loads(data)
    except orjson.JSONDecodeError:
        return NotImplemented
    if isinstance(state, dict) and data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH:
        for name in FREE_FIELDS & state.keys():
            state[name] = cut_value(state[name], MAX_JSON_DEPTH)
    return state


class ReadSafeTranscoder(JSONTranscoder):
    """The library's JSON transcoder, decoding defensively (see the module docstring).

    A state whose stored values (``{"_type_": ..., "_data_": ...}``) all sit at its top level,
    as an event's ids and instants do, is parsed by orjson and only those values decoded: the
    same values the library's decoder gives, which calls its hook on every object it reads.
    Any other state (a stored value nested in free data, a key written with escapes, anything
    ``parse_plain`` leaves alone) is read the library's way.
    """

    def __init__(self) -> None:
        super().__init__()
        self.decoder = json.JSONDecoder(object_hook=self._decode_obj, parse_constant=_no_constant)

    def decode(self, data: bytes) -> Any:
        typed = data.count(_TYPE_KEY)
        if typed <= _TOP_LEVEL_MOST and b"\\u" not in data:
            state = parse_plain(data)
            if type(state) is dict:
                found = 0
                for name, value in state.items():
                    if type(value) is dict and _TYPE in value:
                        state[name] = self._decode_obj(value)
                        found += 1
                if found == typed:
                    return state
        return self._decode_slowly(data)

    def _decode_slowly(self, data: bytes) -> Any:
        """The library's decoding, defensive as the module docstring says."""
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
