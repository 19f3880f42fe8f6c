"""Read the model's reply: the JSON object the system prompt asks for, or plain text.

``parse_reply`` reads a whole reply; ``NarrativeStream`` pulls the narrative out of a reply
while it streams, so that players watch prose appear rather than JSON syntax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Reply:
    """The parts of a model reply that a narration keeps."""

    narrative: str
    answer: str
    player_options: list[str]
    structured: dict[str, Any]  # the JSON object verbatim, or {} when the reply was not one


def parse_reply(text: str) -> Reply:
    """Read a reply: our JSON shape when it is one, otherwise the whole text is the narrative.

    A JSON object counts as our shape when "narrative" or "answer" is a string; models often
    wrap it in a Markdown code fence, which is ignored. Any other JSON object is kept in
    ``structured`` but the text still becomes the narrative, so nothing the model said is lost.
    Broken JSON with a readable start of "narrative" gives that start.
    """
    stripped = text.strip()
    parsed = _json_object(stripped)
    if parsed is None:
        # A reply cut short (e.g. at the token limit) is broken JSON: keep its narrative so far
        # rather than showing the players raw JSON.
        partial = NarrativeStream().feed(stripped) if stripped.startswith(("{", "```")) else ""
        return Reply(narrative=partial or stripped, answer="", player_options=[], structured={})
    narrative, answer = parsed.get("narrative"), parsed.get("answer")
    if not isinstance(narrative, str) and not isinstance(answer, str):
        return Reply(narrative=stripped, answer="", player_options=[], structured=parsed)
    options = parsed.get("player_options")
    return Reply(
        narrative=narrative if isinstance(narrative, str) else "",
        answer=answer if isinstance(answer, str) else "",
        player_options=[o.strip() for o in options if isinstance(o, str) and o.strip()]
        if isinstance(options, list)
        else [],
        structured=parsed,
    )


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text]
    if text.startswith("```"):
        candidates.append(text.partition("\n")[2].rstrip().removesuffix("```"))
    for candidate in candidates:
        try:
            # strict=False: models put raw newlines inside JSON strings more often than not.
            # NaN and Infinity are not JSON: kept as null, as a browser could not read them.
            value = json.loads(candidate, strict=False, parse_constant=lambda _name: None)
        except (ValueError, RecursionError):  # not JSON, or nested beyond what we read
            continue
        return value if isinstance(value, dict) else None
    return None


_Mode = Literal["start", "fence", "json", "narrative", "plain", "done"]


class NarrativeStream:
    """Pulls the narrative out of a streaming reply, piece by piece.

    Feed it the content deltas in order; each call returns the narrative text that became
    readable. For a JSON reply that is the decoded value of the top-level "narrative" key
    (nothing when there is none, e.g. for an out-of-character answer); for any other reply it
    is the text itself from its first non-blank character. When the reply is valid, the pieces
    joined equal ``parse_reply(...).narrative`` (up to trailing blanks of a plain-text reply).
    """

    def __init__(self) -> None:
        self._raw = ""
        self._pos = 0  # how much of _raw has been scanned
        self._mode: _Mode = "start"
        self._plain_from = 0
        # Scanner state for the JSON object, which only needs to find the "narrative" key.
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._expect_key = False
        self._reading_key = False
        self._key_chars: list[str] = []
        self._last_key: str | None = None
        self._after_colon = False

    def feed(self, piece: str) -> str:
        """Take the next piece of the reply; return the narrative text it made readable."""
        self._raw += piece
        out: list[str] = []
        while self._pos < len(self._raw):
            before = (self._mode, self._pos)
            if self._mode == "start":
                self._start()
            elif self._mode == "fence":
                self._skip_fence()
            elif self._mode == "json":
                self._scan_json()
            elif self._mode == "narrative":
                out.append(self._read_narrative())
            elif self._mode == "plain":
                out.append(self._raw[self._pos :])
                self._pos = len(self._raw)
            else:  # done: the narrative, if any, has been read in full
                self._pos = len(self._raw)
            if (self._mode, self._pos) == before:
                break  # waiting for more text
        return "".join(out)

    def _start(self) -> None:
        stripped = self._raw[self._pos :].lstrip()
        if not stripped:
            self._pos = len(self._raw)
            return
        first = len(self._raw) - len(stripped)
        self._plain_from = first
        if stripped.startswith("{"):
            self._mode, self._pos = "json", first
        elif stripped.startswith("```"):
            self._mode, self._pos = "fence", first
        elif not "```".startswith(stripped):  # "`" or "``" may still become a fence: wait
            self._mode, self._pos = "plain", first

    def _skip_fence(self) -> None:
        newline = self._raw.find("\n", self._pos)
        after = self._raw[newline + 1 :].lstrip() if newline >= 0 else ""
        if not after:
            return  # wait for the fence line to end and the content to begin
        if after.startswith("{"):
            self._mode, self._pos = "json", len(self._raw) - len(after)
        else:
            self._mode, self._pos = "plain", self._plain_from

    def _scan_json(self) -> None:
        while self._pos < len(self._raw) and self._mode == "json":
            char = self._raw[self._pos]
            self._pos += 1
            if self._in_string:
                self._string_char(char)
            else:
                self._structure_char(char)

    def _string_char(self, char: str) -> None:
        if self._escaped:
            self._escaped = False
        elif char == "\\":
            self._escaped = True
        elif char == '"':
            self._in_string = False
            if self._reading_key:
                self._reading_key = False
                self._last_key = _decode("".join(self._key_chars))
            return
        if self._reading_key:
            self._key_chars.append(char)

    def _structure_char(self, char: str) -> None:
        top = self._depth == 1
        if char == '"':
            if top and self._after_colon and self._last_key == "narrative":
                self._mode = "narrative"
                return
            self._in_string = True
            self._reading_key = top and self._expect_key
            self._key_chars = []
            self._expect_key = False
            self._after_colon = False
        elif char in "{[":
            self._depth += 1
            self._expect_key = self._depth == 1 and char == "{"
            self._after_colon = False
        elif char in "}]":
            self._depth -= 1
            if self._depth <= 0:
                self._mode = "done"
        elif top and char == ",":
            self._expect_key, self._after_colon = True, False
        elif top and char == ":":
            self._after_colon = True
        elif top and not char.isspace():
            self._after_colon = False  # a number, true, false or null

    def _read_narrative(self) -> str:
        """Decode the narrative string up to its closing quote or the last complete character."""
        buf = self._raw[self._pos :]
        safe, i = 0, 0
        closed = False
        while i < len(buf):
            char = buf[i]
            if char == '"':
                closed = True
                break
            if char != "\\":
                i += 1
            elif buf[i + 1 : i + 2] != "u":
                i += 2
            elif not _is_high_surrogate(buf[i + 2 : i + 6]):
                i += 6
            elif len(buf) < i + 8:  # room for "\uXXXX\u"
                break  # wait: a pair decoded in two halves would give two broken characters
            else:
                i += 12 if buf[i + 6 : i + 8] == "\\u" else 6
            if i > len(buf):
                break  # an escape cut off by the end of this piece
            safe = i
        text = _decode(buf[:safe])
        if text is None:
            self._mode = "done"  # not valid JSON after all; the final parse will decide
            return ""
        self._pos += safe + (1 if closed else 0)
        if closed:
            self._mode = "done"
        return text


def _is_high_surrogate(hex_digits: str) -> bool:
    try:
        return 0xD800 <= int(hex_digits, 16) < 0xDC00  # noqa: PLR2004 - UTF-16 ranges
    except ValueError:
        return False


def _decode(json_string_body: str) -> str | None:
    try:
        value = json.loads(f'"{json_string_body}"', strict=False)
    except ValueError:
        return None
    return value if isinstance(value, str) else None
