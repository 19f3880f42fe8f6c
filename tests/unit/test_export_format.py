"""The gaia-export/1 format: a 1,000-event export verifies, each kind of tampering is caught at
the right line by our verifier, its command and the recipe in docs/export.md (a line repeating a
key; with the public key, a file cut short or re-hashed with a trailer to match), and export
reads the store one page at a time."""

from __future__ import annotations

import base64
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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.__main__ import main as cli
from api.keyfiles import EXPORT_KEY_FILE_NAME, export_signer
from api.settings import Settings
from domain.application import Sessions
from projections.export import (
    FORMAT,
    ZERO_HASH,
    ExportInvalid,
    ExportSigner,
    KeyInvalid,
    canonical_json,
    export_ndjson,
    key_id,
    private_key_from_text,
    public_key_from_text,
    verify_export,
)
from projections.records import event_record
from tests.support.story import play_story, start_story
from tests.support.timeline import rechain

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
def signer() -> ExportSigner:
    return ExportSigner(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def lines(story: tuple[Sessions, UUID], signer: ExportSigner) -> list[str]:
    sessions, session_id = story
    session = sessions.get(session_id)
    text = "".join(
        export_ndjson(
            sessions,
            session_id,
            title=session.title,
            until=session.version,
            exported_at="2026-01-01T00:00:00+00:00",
            signer=signer,
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
    lines: list[str], signer: ExportSigner
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
    trailer = json.loads(lines[-1])
    assert trailer == {
        "type": "trailer",
        "count": EVENTS,
        "final_hash": prev,
        "key_id": signer.key_id,
        "signature": trailer["signature"],
    }
    # The signature covers the header and the rest of the trailer, as docs/export.md says.
    unsigned = {k: v for k, v in trailer.items() if k != "signature"}
    message = json.dumps(
        {"header": header, "trailer": unsigned},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    signer.public.verify(base64.b64decode(trailer["signature"]), message.encode("utf-8"))
    raw = signer.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert trailer["key_id"] == hashlib.sha256(raw).hexdigest()[:16]


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


def test_a_line_with_a_lone_surrogate_escape_is_reported(lines: list[str]) -> None:
    forged = [*lines[:5], lines[5].replace('"data":{', '"data":{"x":"\\udc80",', 1), *lines[6:]]
    with pytest.raises(ExportInvalid) as caught:
        verify(forged)
    assert (caught.value.line, "surrogate" in caught.value.reason) == (6, True), caught.value


# -- repeated keys ---------------------------------------------------------------------------


def _repeat(index: int, after: str, key: str, value: Any) -> Callable[[list[str]], list[str]]:
    """Write ``key`` a first time right after ``after`` in line ``index``: Python's parser keeps
    the later, genuine value, so the chain holds, while a parser keeping the first sees ``value``."""

    def tamper(lines: list[str]) -> list[str]:
        at = index % len(lines)
        first = f"{json.dumps(key)}:{json.dumps(value)},"
        forged = lines[at].replace(after, after + first, 1)
        assert forged != lines[at]
        assert json.loads(forged) == json.loads(lines[at])
        return [*lines[:at], forged, *lines[at + 1 :]]

    return tamper


# case -> (tamper, the line it touches (1-based), the repeated key)
REPEATED_KEYS: dict[str, tuple[Callable[[list[str]], list[str]], int, str]] = {
    "event line": (_repeat(10, "{", "actor", "someone-else"), 11, "actor"),
    "event data": (_repeat(3, '"data":{', "role", "owner"), 4, "role"),
    "header": (_repeat(0, "{", "title", "Another campaign"), 1, "title"),
    "trailer": (_repeat(-1, "{", "count", 3), EVENTS + 2, "count"),
}


@pytest.mark.parametrize("case", list(REPEATED_KEYS))
def test_a_line_that_repeats_a_key_is_refused(
    lines: list[str], signer: ExportSigner, case: str
) -> None:
    tamper, line, key = REPEATED_KEYS[case]
    for public_key in (None, signer.public):
        with pytest.raises(ExportInvalid) as caught:
            verify_export((text + "\n" for text in tamper(lines)), public_key)
        assert caught.value.line == line
        assert f"repeats the key {key!r}" in caught.value.reason


# -- the signed trailer ----------------------------------------------------------------------


def _cut_short(lines: list[str]) -> list[str]:
    return rechain([*lines[:-11], lines[-1]])


def _edited_and_rechained(lines: list[str]) -> list[str]:
    return rechain(_set(500, "data", {"text": "forged"})(lines))


def _resigned(key: Ed25519PrivateKey, *, keep_key_id: bool) -> Callable[[list[str]], list[str]]:
    def tamper(lines: list[str]) -> list[str]:
        forger = ExportSigner(key)
        header, trailer = json.loads(lines[0]), json.loads(lines[-1])
        if not keep_key_id:
            trailer["key_id"] = forger.key_id
        trailer["signature"] = forger.sign(header, trailer)
        return [*lines[:-1], canonical_json(trailer)]

    return tamper


OTHER_KEY = Ed25519PrivateKey.generate()

# case -> tamper; each passes the chain and fails only the signature, at the trailer line
FORGERIES: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "cut short, trailer recomputed": (_cut_short, "signature does not match"),
    "event edited, chain recomputed": (_edited_and_rechained, "signature does not match"),
    "header of another session": (
        _set(0, "session_id", "00000000-0000-4000-8000-000000000000"),
        "signature does not match",
    ),
    "header export time changed": (
        _set(0, "exported_at", "2020-01-01"),
        "signature does not match",
    ),
    "signed with another key": (_resigned(OTHER_KEY, keep_key_id=False), "signed with key"),
    "signed with another key under ours": (
        _resigned(OTHER_KEY, keep_key_id=True),
        "signature does not match",
    ),
}


def test_the_export_verifies_with_its_public_key(lines: list[str], signer: ExportSigner) -> None:
    verified = verify_export((line + "\n" for line in lines), signer.public)
    assert (verified.count, verified.signature_checked) == (EVENTS, True)
    assert verified.key_id == signer.key_id
    assert verify(lines).signature_checked is False


@pytest.mark.parametrize("case", list(FORGERIES))
def test_a_forgery_that_keeps_the_chain_is_caught_by_the_signature(
    lines: list[str], signer: ExportSigner, case: str
) -> None:
    tamper, words = FORGERIES[case]
    forged = tamper(lines)
    assert verify(forged).signature_checked is False  # the chain alone cannot tell
    with pytest.raises(ExportInvalid) as caught:
        verify_export((line + "\n" for line in forged), signer.public)
    assert (caught.value.line, words in caught.value.reason) == (len(forged), True), caught.value


def test_a_trailer_without_a_signature_is_refused(lines: list[str]) -> None:
    trailer = json.loads(lines[-1])
    del trailer["signature"]
    with pytest.raises(ExportInvalid) as caught:
        verify([*lines[:-1], canonical_json(trailer)])
    assert caught.value.line == EVENTS + 2
    assert "missing keys ['signature']" in caught.value.reason


def test_an_export_made_before_trailers_were_signed_verifies_only_without_a_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], signer: ExportSigner
) -> None:
    trailer = json.loads(lines[-1])
    old = [*lines[:-1], canonical_json({k: trailer[k] for k in ("type", "count", "final_hash")})]
    verified = verify(old)
    assert (verified.count, verified.key_id, verified.signature_checked) == (EVENTS, None, False)
    with pytest.raises(ExportInvalid) as caught:
        verify_export((line + "\n" for line in old), signer.public)
    assert (caught.value.line, "not signed" in caught.value.reason) == (EVENTS + 2, True)
    code, out, _ = _run_cli(capsys, tmp_path, old)
    assert code == 0
    assert "UNSIGNED" in out
    assert _run_cli(capsys, tmp_path, old, signer.public_doc()["public_key"])[0] == 1


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_read_from_pem_or_base64_of_the_raw_bytes() -> None:
    private = Ed25519PrivateKey.generate()
    signer = ExportSigner(private)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    for text in (pem, base64.b64encode(raw).decode() + "\n"):
        assert ExportSigner(private_key_from_text(text)).key_id == signer.key_id
    doc = signer.public_doc()
    assert doc["algorithm"] == "Ed25519"
    for text in (doc["public_key"], doc["pem"]):
        assert key_id(public_key_from_text(text)) == doc["key_id"]
    assert len(base64.b64decode(doc["public_key"])) == 32


@pytest.mark.parametrize(
    "text", ["", "not a key", base64.b64encode(b"x" * 31).decode(), "-----BEGIN PUBLIC KEY-----"]
)
def test_text_that_is_no_ed25519_key_is_refused(text: str) -> None:
    with pytest.raises(KeyInvalid):
        private_key_from_text(text)
    with pytest.raises(KeyInvalid):
        public_key_from_text(text)


def test_the_generated_signing_key_is_shared_by_every_instance_on_one_data_dir(
    tmp_path: Path,
) -> None:
    first = export_signer(Settings(data_dir=tmp_path / "data"))
    second = export_signer(Settings(data_dir=tmp_path / "data"))
    assert first.public_doc() == second.public_doc()
    key_file = tmp_path / "data" / EXPORT_KEY_FILE_NAME
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert export_signer(Settings(data_dir=tmp_path / "other")).key_id != first.key_id


def test_the_signing_key_setting_is_shared_by_instances_on_any_data_dir(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    one = export_signer(Settings(data_dir=tmp_path / "one", export_signing_key=pem))
    two = export_signer(Settings(data_dir=tmp_path / "two", export_signing_key=pem))
    assert one.public_doc() == two.public_doc() == ExportSigner(private).public_doc()
    assert not (tmp_path / "one" / EXPORT_KEY_FILE_NAME).exists()
    with pytest.raises(KeyInvalid, match="GAIA_EXPORT_SIGNING_KEY"):
        export_signer(Settings(data_dir=tmp_path, export_signing_key="not a key"))


# -- the command -----------------------------------------------------------------------------


def _run_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], *key: str
) -> tuple[int, str, str]:
    export = tmp_path / "session.ndjson"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    key_args = ["--public-key", *key] if key else []
    code = cli(["verify-export", str(export), *key_args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_checks_the_signature_with_the_key_or_says_it_did_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], signer: ExportSigner
) -> None:
    key = signer.public_doc()["public_key"]
    code, out, err = _run_cli(capsys, tmp_path, lines, key)
    assert code == 0, err
    assert f"{EVENTS} events" in out
    assert f"signature valid (key {signer.key_id})" in out
    pem_file = tmp_path / "export-key.pem"
    pem_file.write_text(signer.public_doc()["pem"], encoding="utf-8")
    assert _run_cli(capsys, tmp_path, lines, str(pem_file))[0] == 0
    code, out, _ = _run_cli(capsys, tmp_path, lines)
    assert code == 0
    assert "signature NOT checked" in out


def test_the_command_refuses_repeated_keys_and_forgeries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], signer: ExportSigner
) -> None:
    key = signer.public_doc()["public_key"]
    repeated, _, _ = REPEATED_KEYS["event data"]
    code, _, err = _run_cli(capsys, tmp_path, repeated(lines), key)
    assert code == 1
    assert "INVALID at line 4: the line repeats the key 'role'" in err
    assert _run_cli(capsys, tmp_path, repeated(lines))[0] == 1  # without the key too
    for forge in (_cut_short, _edited_and_rechained):
        forged = forge(lines)
        code, _, err = _run_cli(capsys, tmp_path, forged, key)
        assert code == 1
        assert f"INVALID at line {len(forged)}: the trailer's signature does not match" in err
    code, _, err = _run_cli(capsys, tmp_path, lines, "not a key")
    assert code == 2
    assert "--public-key" in err


# -- the recipe in docs/export.md, run as written ---------------------------------------------


def _recipe(tmp_path: Path) -> Path:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Verify it without our code", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None, "docs/export.md has no python recipe"
    path = tmp_path / "verify.py"
    path.write_text(code.group(1), encoding="utf-8")
    return path


def _run_recipe(
    tmp_path: Path, lines: list[str], signer: ExportSigner
) -> subprocess.CompletedProcess[str]:
    export = tmp_path / "session.ndjson"
    export.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    key = signer.public_doc()["public_key"]
    return subprocess.run(
        [sys.executable, "-I", str(_recipe(tmp_path)), str(export), key],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_documented_recipe_accepts_a_real_export(
    tmp_path: Path, lines: list[str], signer: ExportSigner
) -> None:
    result = _run_recipe(tmp_path, lines, signer)
    assert result.returncode == 0, result.stderr
    assert f"valid: {EVENTS} events" in result.stdout
    assert json.loads(lines[-1])["final_hash"] in result.stdout
    assert f"signed by key {signer.key_id}" in result.stdout


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
    tmp_path: Path, lines: list[str], signer: ExportSigner, case: str
) -> None:
    tamper, _, _ = TAMPERING[case]
    result = _run_recipe(tmp_path, tamper(lines), signer)
    assert result.returncode != 0
    assert result.stderr.startswith(f"line {RECIPE_CASES[case]}:"), result.stderr


@pytest.mark.parametrize("case", list(REPEATED_KEYS))
def test_the_documented_recipe_refuses_a_repeated_key(
    tmp_path: Path, lines: list[str], signer: ExportSigner, case: str
) -> None:
    tamper, line, _ = REPEATED_KEYS[case]
    result = _run_recipe(tmp_path, tamper(lines), signer)
    assert result.returncode != 0
    assert result.stderr.startswith(f"line {line}: not JSON or a repeated key"), result.stderr


@pytest.mark.parametrize("case", list(FORGERIES))
def test_the_documented_recipe_refuses_a_forgery_that_keeps_the_chain(
    tmp_path: Path, lines: list[str], signer: ExportSigner, case: str
) -> None:
    tamper, _ = FORGERIES[case]
    forged = tamper(lines)
    result = _run_recipe(tmp_path, forged, signer)
    assert result.returncode != 0
    assert result.stderr.startswith(f"line {len(forged)}: the signature does not match"), (
        result.stderr
    )


# -- paging ----------------------------------------------------------------------------------


class _CountingEvents:
    """The recorder's reads of stored events, noting the ``limit`` of each."""

    def __init__(self, select_events: Callable[..., Any]) -> None:
        self.inner = select_events
        self.limits: list[int | None] = []

    def select_events(self, originator_id: UUID, **kwargs: Any) -> Any:
        self.limits.append(kwargs.get("limit"))
        return self.inner(originator_id, **kwargs)


def test_export_reads_the_stream_one_page_at_a_time_at_most_one_ahead(
    story: tuple[Sessions, UUID], signer: ExportSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, session_id = story
    counting = _CountingEvents(sessions.recorder.select_events)
    monkeypatch.setattr(sessions.recorder, "select_events", counting.select_events)
    blocks = export_ndjson(
        sessions, session_id, title="t", until=EVENTS, exported_at="x", signer=signer, chunk=300
    )
    next(blocks)  # the header needs no read
    assert counting.limits == []
    next(blocks)
    # The next page may be on its way already (read ahead), never more than that.
    assert counting.limits in ([300], [300, 300])
    rest = list(blocks)
    assert counting.limits == [300, 300, 300, 300]
    assert len(rest) == 4  # three more pages of events, then the trailer


def test_export_stops_at_the_version_it_was_asked_for(
    story: tuple[Sessions, UUID], signer: ExportSigner
) -> None:
    sessions, session_id = story
    text = "".join(
        export_ndjson(
            sessions, session_id, title="t", until=250, exported_at="x", signer=signer, chunk=100
        )
    )
    lines = text.splitlines()
    assert json.loads(lines[-2])["version"] == 250
    assert json.loads(lines[-1])["count"] == 250
