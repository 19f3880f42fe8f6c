"""The gaia-export/1 format: a 1,000-event export verifies, each kind of tampering is caught at
the right line by our verifier and by the recipe in docs/export.md, and export reads the store
one page at a time."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.application import Sessions
from projections.export import (
    FORMAT,
    ZERO_HASH,
    ExportInvalid,
    canonical_json,
    export_ndjson,
    verify_export,
)
from projections.records import event_record
from tests.support.story import play_story, start_story

EVENTS = 1000
DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[Sessions, UUID]]:
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=EVENTS)
    yield sessions, session_id
    sessions.close()


@pytest.fixture(scope="module")
def lines(story: tuple[Sessions, UUID]) -> list[str]:
    sessions, session_id = story
    session = sessions.get(session_id)
    text = "".join(
        export_ndjson(
            sessions,
            session_id,
            title=session.title,
            until=session.version,
            exported_at="2026-01-01T00:00:00+00:00",
            chunk=97,  # pages that do not divide the stream evenly
        )
    )
    assert text.endswith("\n")
    return text.splitlines()


def verify(lines: list[str]) -> Any:
    return verify_export(line + "\n" for line in lines)


def test_a_thousand_event_export_verifies(lines: list[str], story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    verified = verify(lines)
    assert verified.count == EVENTS == len(lines) - 2
    assert verified.session_id == str(session_id)
    assert verified.title == sessions.get(session_id).title
    assert verified.final_hash == json.loads(lines[-1])["final_hash"]


def test_event_lines_carry_the_stored_event_records_in_version_order(
    lines: list[str], story: tuple[Sessions, UUID]
) -> None:
    sessions, session_id = story
    records = [json.loads(json.dumps(event_record(e))) for e in sessions.events.get(session_id)]
    exported = [json.loads(line) for line in lines[1:-1]]
    assert [e["version"] for e in exported] == list(range(1, EVENTS + 1))
    assert [
        {
            "version": e["version"],
            "type": e["event_type"],
            "recorded_at": e["recorded_at"],
            "occurred_at": e["occurred_at"],
            "actor": e["actor"],
            "data": e["data"],
        }
        for e in exported
    ] == records
    assert {"TimelineRewound", "NarrationFailed", "MemberRemoved"} <= {
        e["event_type"] for e in exported
    }


def test_the_chain_is_sha256_over_the_previous_hash_and_the_canonical_line(
    lines: list[str],
) -> None:
    header = json.loads(lines[0])
    assert header["type"] == "header"
    assert header["format"] == FORMAT == "gaia-export/1"
    assert set(header) == {"type", "format", "session_id", "title", "exported_at"}
    prev = "0" * 64
    for text in lines[1:-1]:
        line = json.loads(text)
        body = {k: v for k, v in line.items() if k not in ("prev_hash", "hash")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert line["prev_hash"] == prev
        assert line["hash"] == hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()
        prev = line["hash"]
    assert json.loads(lines[-1]) == {"type": "trailer", "count": EVENTS, "final_hash": prev}


def test_canonical_json_sorts_keys_drops_spaces_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": [1, {"d": "é", "c": None}], "a": 1.5}) == (
        '{"a":1.5,"b":[1,{"c":null,"d":"é"}]}'
    )
    assert ZERO_HASH == "0" * 64


def _set(index: int, key: str, value: Any) -> Callable[[list[str]], list[str]]:
    def tamper(lines: list[str]) -> list[str]:
        at = index % len(lines)
        line = json.loads(lines[at])
        line[key] = value
        return [*lines[:at], json.dumps(line, ensure_ascii=False), *lines[at + 1 :]]

    return tamper


def _turn_after_line_400(lines: list[str]) -> int:
    return next(i for i, text in enumerate(lines) if '"TurnSubmitted"' in text and i > 400)


def _alter_text(lines: list[str]) -> list[str]:
    index = _turn_after_line_400(lines)
    return [*lines[:index], re.sub(r"n°(\d+)", r"n°9\1", lines[index]), *lines[index + 1 :]]


# case -> (tamper, expected bad line (1-based), words in the reason)
TAMPERING: dict[str, tuple[Callable[[list[str]], list[str]], int, str]] = {
    "event data altered": (_set(500, "data", {"text": "forged"}), 501, "altered"),
    "actor altered": (_set(37, "actor", "someone-else"), 38, "altered"),
    "hash replaced": (_set(10, "hash", "f" * 64), 11, "altered"),
    "prev_hash replaced": (_set(10, "prev_hash", "e" * 64), 11, "prev_hash"),
    "line dropped": (lambda ls: ls[:300] + ls[301:], 301, "dropped, duplicated or reordered"),
    "first event dropped": (lambda ls: ls[:1] + ls[2:], 2, "dropped, duplicated or reordered"),
    "last event dropped": (lambda ls: ls[:-2] + ls[-1:], EVENTS + 1, "trailer counts"),
    "line duplicated": (
        lambda ls: [*ls[:300], ls[299], *ls[300:]],
        301,
        "dropped, duplicated or reordered",
    ),
    "lines reordered": (
        lambda ls: [*ls[:700], ls[701], ls[700], *ls[702:]],
        701,
        "dropped, duplicated or reordered",
    ),
    "trailer missing": (lambda ls: ls[:-1], EVENTS + 2, "trailer is missing"),
    "export cut short": (lambda ls: ls[:600], 601, "trailer is missing"),
    "trailer count wrong": (_set(-1, "count", EVENTS + 1), EVENTS + 2, "trailer counts"),
    "trailer hash wrong": (_set(-1, "final_hash", "a" * 64), EVENTS + 2, "final_hash"),
    "line after the trailer": (lambda ls: [*ls, ls[5]], EVENTS + 3, "follows the trailer"),
    "header format wrong": (_set(0, "format", "gaia-export/2"), 1, "format"),
    "header missing": (lambda ls: ls[1:], 1, "not a header"),
    "header title altered": (_set(0, "title", "Another campaign"), 1, "title"),
    "header with an extra key": (_set(0, "signed_by", "us"), 1, "extra keys"),
    "event with an extra key": (_set(42, "note", "hi"), 43, "extra keys"),
    "blank line": (lambda ls: [*ls[:50], "", *ls[50:]], 51, "blank"),
    "line not json": (lambda ls: [*ls[:50], "{not json", *ls[51:]], 51, "not JSON"),
    "empty file": (lambda ls: [], 1, "empty"),
}


@pytest.mark.parametrize("case", list(TAMPERING), ids=list(TAMPERING))
def test_tampering_is_reported_at_the_first_bad_line(lines: list[str], case: str) -> None:
    tamper, line, words = TAMPERING[case]
    with pytest.raises(ExportInvalid) as caught:
        verify(tamper(lines))
    assert (caught.value.line, words in caught.value.reason) == (line, True), caught.value


def test_altered_turn_text_is_reported_at_its_line(lines: list[str]) -> None:
    altered = _alter_text(lines)
    assert altered != lines
    with pytest.raises(ExportInvalid) as caught:
        verify(altered)
    assert caught.value.line == _turn_after_line_400(lines) + 1
    assert "altered" in caught.value.reason


def test_a_line_that_is_not_utf8_is_reported(lines: list[str]) -> None:
    raw = [line.encode() + b"\n" for line in lines]
    raw[3] = b'{"type": "event", "text": "\xff"}\n'
    with pytest.raises(ExportInvalid) as caught:
        verify_export(raw)
    assert caught.value.line == 4


# -- the recipe in docs/export.md, run as written ---------------------------------------------


def _recipe(tmp_path: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Verify it without our code", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "docs/export.md has no python recipe"
    path = tmp_path / "verify.py"
    path.write_text(code.group(1), encoding="utf-8")
    return path


def _run_recipe(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    export = tmp_path / "session.ndjson"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(_recipe(tmp_path)), str(export)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_documented_recipe_accepts_a_real_export(tmp_path: Path, lines: list[str]) -> None:
    result = _run_recipe(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    assert f"valid: {EVENTS} events" in result.stdout
    assert json.loads(lines[-1])["final_hash"] in result.stdout


# case -> the line the recipe names (for a missing trailer: the last line, which is not one)
RECIPE_CASES = {
    "event data altered": 501,
    "hash replaced": 11,
    "line dropped": 301,
    "line duplicated": 301,
    "lines reordered": 701,
    "trailer missing": EVENTS + 1,
    "trailer hash wrong": EVENTS + 2,
    "header format wrong": 1,
}


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_the_documented_recipe_rejects_tampering(
    tmp_path: Path, lines: list[str], case: str
) -> None:
    tamper, _, _ = TAMPERING[case]
    result = _run_recipe(tmp_path, tamper(lines))
    assert result.returncode != 0
    assert result.stderr.startswith(f"line {RECIPE_CASES[case]}:"), result.stderr


# -- paging ----------------------------------------------------------------------------------


class _CountingEvents:
    """The application's event store, noting the ``limit`` of every read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.limits: list[int | None] = []

    def get(self, originator_id: UUID, **kwargs: Any) -> Any:
        self.limits.append(kwargs.get("limit"))
        return self.inner.get(originator_id, **kwargs)


def test_export_reads_the_stream_one_page_at_a_time(
    story: tuple[Sessions, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, session_id = story
    counting = _CountingEvents(sessions.events)
    monkeypatch.setattr(sessions, "events", counting)
    blocks = export_ndjson(
        sessions, session_id, title="t", until=EVENTS, exported_at="x", chunk=300
    )
    next(blocks)  # the header needs no read
    assert counting.limits == []
    next(blocks)
    assert counting.limits == [300]
    rest = list(blocks)
    assert counting.limits == [300, 300, 300, 300]
    assert len(rest) == 4  # three more pages of events, then the trailer


def test_export_stops_at_the_version_it_was_asked_for(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    text = "".join(
        export_ndjson(sessions, session_id, title="t", until=250, exported_at="x", chunk=100)
    )
    lines = text.splitlines()
    assert json.loads(lines[-2])["version"] == 250
    assert json.loads(lines[-1])["count"] == 250
