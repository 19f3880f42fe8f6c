"""Appending on PostgreSQL in one round trip (``recorders.BoundedPostgresApplicationRecorder``):
values written inline come back byte for byte, positions follow the order given, and a version
stored already writes nothing, raises the library's IntegrityError and leaves the pool usable.
Snapshots (``BoundedPostgresAggregateRecorder``) are stored as given and refused the same way."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.adapters.recorders import (
    BoundedPostgresAggregateRecorder,
    BoundedPostgresApplicationRecorder,
)
from domain.application import Sessions
from tests.support.stores import StoreConfig

# What the inline values must survive: quotes, a backslash, a NUL byte, bytes that are not UTF-8.
AWKWARD = [b"{}", b'{"text": "it\'s \\\\ \\"quoted\\""}', b"\x00\xff\xfe'\\", "ñ 日本".encode()]


@pytest.fixture
def store(postgres_store: StoreConfig) -> StoreConfig:
    """The recorder under test is PostgreSQL's: the Sessions fixtures run on it alone here."""
    return postgres_store


def test_values_written_inline_come_back_as_given_in_order(sessions: Sessions) -> None:
    recorder = sessions.recorder
    assert isinstance(recorder, BoundedPostgresApplicationRecorder)
    stream = uuid4()
    events = [
        StoredEvent(stream, version, f"topic'{version}", state)
        for version, state in enumerate(AWKWARD, start=1)
    ]
    before = recorder.max_notification_id() or 0
    ids = recorder.insert_events(events)
    assert ids == sorted(ids)
    assert ids[0] > before
    assert len(ids) == len(AWKWARD)
    stored = recorder.select_events(stream)
    assert [(e.originator_version, e.topic, e.state) for e in stored] == [
        (e.originator_version, e.topic, e.state) for e in events
    ]
    read = recorder.select_notifications(start=ids[0], limit=10)
    assert [n.id for n in read] == ids


def test_a_version_stored_already_writes_nothing_of_its_batch(sessions: Sessions) -> None:
    recorder = sessions.recorder
    stream, other = uuid4(), uuid4()
    recorder.insert_events([StoredEvent(stream, 1, "t", b"{}")])
    head = recorder.max_notification_id()
    with pytest.raises(IntegrityError):
        recorder.insert_events(
            [StoredEvent(other, 1, "t", b"{}"), StoredEvent(stream, 1, "t", b'{"again": 1}')]
        )
    assert recorder.select_events(other) == []
    assert recorder.max_notification_id() == head
    # Every pooled connection still works after the failed one was rolled back.
    for n in range(2, 12):
        assert recorder.insert_events([StoredEvent(stream, n, "t", b"{}")])
    assert len(recorder.select_events(stream)) == 11


def test_snapshots_are_stored_as_given_and_a_stored_version_is_refused(sessions: Sessions) -> None:
    """Snapshots (``BoundedPostgresAggregateRecorder``: plain rows, states sent as binary)."""
    assert sessions.snapshots is not None
    recorder = sessions.snapshots.recorder
    assert isinstance(recorder, BoundedPostgresAggregateRecorder)
    stream = uuid4()
    large = bytes(range(256)) * 4096  # every byte value, 1 MiB
    states = [*AWKWARD, large]
    snapshots = [
        StoredEvent(stream, version, f"topic'{version}", state)
        for version, state in enumerate(states, start=1)
    ]
    recorder.insert_events(snapshots)
    stored = recorder.select_events(stream)
    assert [(e.originator_version, e.topic, e.state) for e in stored] == [
        (e.originator_version, e.topic, e.state) for e in snapshots
    ]
    with pytest.raises(IntegrityError):
        recorder.insert_events([StoredEvent(stream, 9, "t", b"{}"), snapshots[0]])
    assert [e.originator_version for e in recorder.select_events(stream)] == [1, 2, 3, 4, 5]
