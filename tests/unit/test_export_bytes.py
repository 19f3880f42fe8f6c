"""The export written with orjson is byte for byte the export the standard library writes from
the library's decoded events: for every event type, both roles, and stored JSON holding odd
values (non-ASCII, numbers beyond 64 bits, floats of every form, non-finite numbers, deep
nesting, repeated keys, bytes that are not UTF-8)."""

from __future__ import annotations

import json
import math
import random
import struct
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from domain import roles
from domain.application import Sessions
from projections.export import (
    FORMAT,
    ZERO_HASH,
    ExportSigner,
    canonical_bytes,
    canonical_json,
    chain_hash,
    export_bytes,
    export_ndjson,
)
from projections.records import event_record, shown_to
from projections.timeline import EVENT_TOPICS
from tests.support.story import play_story, start_story
from tests.unit.test_history_fold import add_every_other_event_type

# Raw JSON texts put into the events' free fields, as older code or another writer stored them.
ODD_VALUES: list[bytes] = [
    '{"text":"Sälzweg ✦ 😀 \\u2028\\u2029 \\u0000\\u001f\\u007f \\"q\\" \\\\ /"}'.encode(),
    b'{"big":123456789012345678901234567890,"neg":-9223372036854775809,'
    b'"u64":18446744073709551615,"i64":9223372036854775807,"i64min":-9223372036854775808}',
    b'{"f":[1e-05,0.0001,0.00001234,2.5e-07,5e-324,1e16,1e22,-0.0,0.1,1.5,'
    b"1.7976931348623157e308,123456789012345.6,1e-10,3.14159]}",
    b'{"inf":1e400,"ninf":-1e400,"nan":NaN,"pinf":Infinity}',
    b'{"b":1,"a":{"z":1,"\xc3\xa9":2,"A":3,"\xf0\x9f\x98\x80":4,"\xef\xbf\xbf":5},"a2":[]}',
    b'{"k":1,"k":2,"j":{"x":1,"x":[3]}}',
    b'{"bad":"\xff\xfe text"}',
    b'{"words":"1e-5 and 0.00001 and e-7 in plain text"}',
    b'{"deep":' + b'{"d":' * 80 + b"1" + b"}" * 80 + b"}",
    b'{"typed":{"_type_":"uuid_hex","_data_":"' + b"a" * 32 + b'"},"n":null,"t":true}',
    b"[]",
    b'"just text"',
    b"-12.5e3",
]
FREE = {
    "GameStateRecorded": "data",
    "NarrationCompleted": "structured",
    "MessagePosted": "structured",
    "CharacterCreated": "sheet",
    "CharacterChanged": "changes",
    "SceneEntered": "scene",
    "CombatUpdated": "combat",
    "LegacyArtifactPreserved": "content",
}


def with_raw(state: bytes, field: str, raw: bytes) -> bytes:
    """``state`` with the value of ``field`` replaced by the raw JSON text ``raw``."""
    parsed = json.loads(state)
    parsed[field] = "\x00PLACEHOLDER\x00"
    text = json.dumps(parsed).encode()
    return text.replace(b'"\\u0000PLACEHOLDER\\u0000"', raw)


@pytest.fixture(scope="module")
def story() -> Iterator[tuple[Sessions, UUID]]:
    """A copy of a story of every event type whose free fields hold the odd values in turn."""
    sessions = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=300, seed=11)
    add_every_other_event_type(sessions, session_id)
    copied, copy_id, odd = odd_copy(sessions, session_id)
    sessions.recorder.insert_events(copied)
    assert odd > 3 * len(ODD_VALUES)
    yield sessions, copy_id
    sessions.close()


def odd_copy(sessions: Sessions, session_id: UUID) -> tuple[list[StoredEvent], UUID, int]:
    """The session's stored events copied to a new stream id, the free field of each event
    that has one holding the odd values in turn; and how many were given one."""
    copy_id, odd = uuid4(), 0
    names = {topic: name for name, topic in EVENT_TOPICS.items()}
    copied = []
    for stored in sessions.recorder.select_events(session_id):
        field = FREE.get(names[stored.topic])
        state = stored.state
        if field is not None:
            state = with_raw(state, field, ODD_VALUES[odd % len(ODD_VALUES)])
            odd += 1
        copied.append(replace(stored, originator_id=copy_id, state=state))
    return copied, copy_id, odd


def reference(
    sessions: Sessions, session_id: UUID, signer: ExportSigner, role: str, until: int
) -> bytes:
    """The export as the standard library writes it from the library's decoded events."""
    header = {
        "type": "header",
        "format": FORMAT,
        "session_id": str(session_id),
        "title": "T ✦",
        "exported_at": "now",
    }
    out, prev = [canonical_json(header)], ZERO_HASH
    for stored in sessions.recorder.select_events(session_id, lte=until):
        record = shown_to(event_record(sessions.mapper.to_domain_event(stored)), role)
        body = {
            "type": "event",
            "version": record["version"],
            "event_type": record["type"],
            "recorded_at": record["recorded_at"],
            "occurred_at": record["occurred_at"],
            "actor": record["actor"],
            "data": record["data"],
        }
        canonical = canonical_json(body)
        digest = chain_hash(prev, canonical)
        out.append(canonical[:-1] + f',"prev_hash":"{prev}","hash":"{digest}"}}')
        prev = digest
    trailer: dict[str, Any] = {
        "type": "trailer",
        "count": len(out) - 1,
        "final_hash": prev,
        "key_id": signer.key_id,
    }
    trailer["signature"] = signer.sign(header, trailer)
    out.append(canonical_json(trailer))
    return ("\n".join(out) + "\n").encode("utf-8")


@pytest.mark.parametrize("role", [roles.OWNER, roles.PLAYER])
def test_the_export_is_byte_for_byte_the_standard_librarys(
    story: tuple[Sessions, UUID], role: str
) -> None:
    sessions, session_id = story
    signer = ExportSigner(Ed25519PrivateKey.generate())
    until = sessions.recorder.select_events(session_id, desc=True, limit=1)[0].originator_version
    arguments: dict[str, Any] = {
        "title": "T ✦",
        "until": until,
        "exported_at": "now",
        "signer": signer,
        "chunk": 37,
        "role": role,
    }
    expected = reference(sessions, session_id, signer, role, until)
    assert b"".join(export_bytes(sessions, session_id, **arguments)) == expected
    assert "".join(export_ndjson(sessions, session_id, **arguments)) == expected.decode()
    assert "Infinity" in expected.decode()
    assert "1e-05" in expected.decode()


def test_a_lone_surrogate_fails_the_export_as_before(story: tuple[Sessions, UUID]) -> None:
    sessions, session_id = story
    stored = sessions.recorder.select_events(session_id, limit=1)[0]
    lone = replace(
        stored, originator_id=uuid4(), state=with_raw(stored.state, "title", b'"\\ud800"')
    )
    sessions.recorder.insert_events([lone])
    signer = ExportSigner(Ed25519PrivateKey.generate())
    with pytest.raises(UnicodeEncodeError):
        reference(sessions, lone.originator_id, signer, roles.OWNER, 1)
    blocks = export_bytes(
        sessions, lone.originator_id, title="", until=1, exported_at="", signer=signer
    )
    with pytest.raises(UnicodeEncodeError):
        list(blocks)


def odd_floats(count: int) -> Iterator[float]:
    rng = random.Random(14)  # noqa: S311 - reproducible test data
    for i in range(count):
        kind = i % 4
        if kind == 0:
            value = struct.unpack("d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        elif kind == 1:
            value = rng.random() * 10.0 ** rng.randint(-30, 30)
        elif kind == 2:
            value = round(rng.random() * 10.0 ** rng.randint(0, 20), rng.randint(0, 5))
        else:
            value = rng.choice([1, -1, 2.5, 9.999999]) * 10.0 ** rng.randint(-320, 308)
        if math.isfinite(value):
            yield value


def test_plain_values_write_as_the_standard_library_writes_them() -> None:
    floats = list(odd_floats(40_000))
    for chunk in range(0, len(floats), 50):
        value = orjson.loads(orjson.dumps({"f": floats[chunk : chunk + 50], "é": "✦"}))
        assert canonical_bytes(value, plain=True) == canonical_json(value).encode()
    for raw in ODD_VALUES:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        assert canonical_bytes(value, plain=True) == canonical_json(value).encode()
