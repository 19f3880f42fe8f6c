"""Stored states read through ``ReadSafeTranscoder.decode`` (orjson where it reads the same) are
the values the library's decoding gives, types, key order and all: every stored event and
snapshot of a story with every event type, and states made to take each way round the fast
path (values orjson reads otherwise, stored values nested or escaped, too deep, too many)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import TranscodingNotRegisteredError

from domain.application import Sessions
from domain.inputs import MAX_JSON_DEPTH
from domain.transcoding import ReadSafeTranscoder
from tests.support.story import play_story, start_story
from tests.unit.test_history_fold import add_every_other_event_type

HEX = uuid4().hex
UUID_VALUE = '{"_type_":"uuid_hex","_data_":"%s"}' % HEX  # noqa: UP031 - JSON braces
INSTANT = '{"_type_":"datetime_iso","_data_":"2026-12-06T21:00:00.123456+00:00"}'


@pytest.fixture(scope="module")
def sessions() -> Sessions:
    return Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"}, snapshot_interval=20)


@pytest.fixture(scope="module")
def transcoder(sessions: Sessions) -> ReadSafeTranscoder:
    found = sessions.mapper.transcoder
    assert isinstance(found, ReadSafeTranscoder)
    return found


def both_ways(transcoder: ReadSafeTranscoder, data: bytes) -> tuple[str, str]:
    """``repr`` of the state read by ``decode`` and by the library's way alone."""
    return repr(transcoder.decode(data)), repr(transcoder._decode_slowly(data))


def test_every_stored_event_and_snapshot_of_a_story_reads_as_the_library_reads_it(
    sessions: Sessions, transcoder: ReadSafeTranscoder
) -> None:
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=260, seed=11)
    add_every_other_event_type(sessions, session_id)
    stored = list(sessions.recorder.select_events(session_id))
    assert sessions.snapshots is not None
    snapshots = list(sessions.snapshots.recorder.select_events(session_id))
    assert len({event.topic for event in stored}) > 20
    assert snapshots
    for item in stored + snapshots:
        fast, slow = both_ways(transcoder, item.state)
        assert fast == slow, item.topic


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


CRAFTED: dict[str, str] = {
    "typed values at the top": '{"turn_id":%s,"at":%s,"text":"x"}' % (UUID_VALUE, INSTANT),  # noqa: UP031
    "not-a-number": '{"n":NaN,"m":-Infinity,"t":%s}' % UUID_VALUE,  # noqa: UP031
    "beyond a double": '{"n":1e400,"t":%s}' % UUID_VALUE,  # noqa: UP031
    "beyond 64 bits": '{"n":12345678901234567890123,"t":%s}' % UUID_VALUE,  # noqa: UP031
    "19 digits in text": '{"text":"call 1234567890123456789","t":%s}' % UUID_VALUE,  # noqa: UP031
    "a stored value in free data": '{"data":{"k":%s},"t":%s}' % (UUID_VALUE, INSTANT),  # noqa: UP031
    "a list of stored values": '{"ids":[%s,%s]}' % (UUID_VALUE, UUID_VALUE),  # noqa: UP031
    "a key written with escapes": '{"data":{"k":{"\\u005ftype_":"uuid_hex","_data_":"%s"}}}'  # noqa: UP031
    % HEX,
    "a top-level key written with escapes": '{"v":{"\\u005ftype_":"uuid_hex","_data_":"%s"}}'  # noqa: UP031
    % HEX,
    "a lone surrogate": '{"text":"\\ud800","t":%s}' % UUID_VALUE,  # noqa: UP031
    "a three-key object with the type key": '{"v":{"_type_":"uuid_hex","_data_":"%s","x":1}}'  # noqa: UP031
    % HEX,
    "a type key without data": '{"v":{"_type_":"uuid_hex","x":1}}',
    "the state itself a stored value": UUID_VALUE,
    "a list at the top": "[%s,1]" % UUID_VALUE,  # noqa: UP031
    "deeper than accepted": '{"data":%s,"t":%s}' % (nested(MAX_JSON_DEPTH + 5), INSTANT),  # noqa: UP031
    "deeper than orjson reads": '{"settings":%s}' % nested(1100),  # noqa: UP031
    "many typed values": "{%s}" % ",".join(f'"k{n}":{INSTANT}' for n in range(20)),  # noqa: UP031
    "duplicate keys": '{"a":1,"a":%s}' % UUID_VALUE,  # noqa: UP031
    "floats": '{"a":-0.0,"b":1E-7,"c":0.1,"d":1e22,"t":%s}' % INSTANT,  # noqa: UP031
}


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_state_reads_as_the_library_reads_it(
    transcoder: ReadSafeTranscoder, name: str
) -> None:
    fast, slow = both_ways(transcoder, CRAFTED[name].encode())
    assert fast == slow


def test_bytes_that_are_not_utf8_read_as_the_library_reads_them(
    transcoder: ReadSafeTranscoder,
) -> None:
    fast, slow = both_ways(transcoder, b'{"text":"caf\xe9","t":' + UUID_VALUE.encode() + b"}")
    assert fast == slow


def test_an_unknown_stored_type_is_refused_either_way(transcoder: ReadSafeTranscoder) -> None:
    data = b'{"v":{"_type_":"no_such_type","_data_":1}}'
    for decode in (transcoder.decode, transcoder._decode_slowly):
        with pytest.raises(TranscodingNotRegisteredError):
            decode(data)


def test_top_level_values_are_decoded_to_their_types(transcoder: ReadSafeTranscoder) -> None:
    state: Any = transcoder.decode(CRAFTED["typed values at the top"].encode())
    assert type(state["turn_id"]).__name__ == "UUID"
    assert type(state["at"]).__name__ == "datetime"
