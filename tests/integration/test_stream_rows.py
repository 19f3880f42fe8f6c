"""A stream's events read as plain rows by key range are exactly what the library's
``select_events`` gives, on SQLite and PostgreSQL, and the export made from them is still the
standard library's, byte for byte; a compressed store keeps the library's own read."""

from __future__ import annotations

from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from domain import roles
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.adapters.stream_rows import rows_reader
from domain.application import Sessions
from projections.export import ExportSigner, export_bytes
from projections.records import StoredRecords
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig
from tests.support.story import play_story, start_story
from tests.unit.test_export_bytes import odd_copy, reference
from tests.unit.test_history_fold import add_every_other_event_type

COMPRESSED = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}


def odd_story() -> tuple[list[StoredEvent], UUID]:
    """The stored events of a story of every event type whose free fields hold odd raw JSON."""
    source = Sessions({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        session_id = start_story(source)
        play_story(source, session_id, events=120, seed=5)
        add_every_other_event_type(source, session_id)
        copied, copy_id, _ = odd_copy(source, session_id)
        return copied, copy_id
    finally:
        source.close()


@pytest.fixture
def stored_story(make_sessions: SessionsFactory) -> tuple[Sessions, UUID, int]:
    """The odd story stored on the test's store, beside another session's events."""
    sessions = make_sessions()
    copied, session_id = odd_story()
    other = start_story(sessions)
    play_story(sessions, other, events=20)
    sessions.recorder.insert_events(copied)
    return sessions, session_id, len(copied)


@pytest.mark.parametrize(
    ("gt", "lte", "limit"), [(0, 10_000, 10_000), (0, 10_000, 7), (5, 60, 100), (40, 40, 5)]
)
def test_rows_by_key_range_are_what_select_events_returns(
    stored_story: tuple[Sessions, UUID, int], gt: int, lte: int, limit: int
) -> None:
    sessions, session_id, _ = stored_story
    read = rows_reader(sessions.recorder)
    assert read is not None

    rows = read(session_id, gt, lte, limit)

    expected = sessions.recorder.select_events(session_id, gt=gt, lte=lte, limit=limit)
    assert rows == [(s.topic, s.state, s.originator_version) for s in expected]
    assert all(type(state) is bytes for _, state, _ in rows)


@pytest.mark.parametrize("role", [roles.OWNER, roles.PLAYER])
def test_the_export_read_as_rows_is_byte_for_byte_the_standard_librarys(
    stored_story: tuple[Sessions, UUID, int], role: str
) -> None:
    sessions, session_id, events = stored_story
    signer = ExportSigner(Ed25519PrivateKey.generate())

    exported = b"".join(
        export_bytes(
            sessions,
            session_id,
            title="T ✦",
            until=events,
            exported_at="now",
            signer=signer,
            chunk=50,
            role=role,
        )
    )

    assert exported == reference(sessions, session_id, signer, role, events)


def test_a_compressed_store_is_exported_through_the_librarys_read(store: StoreConfig) -> None:
    sessions = open_sessions(
        store_env(store.database_url, store.data_dir, name="gaia") | COMPRESSED
    )
    try:
        session_id = start_story(sessions)
        play_story(sessions, session_id, events=120, seed=5)
        add_every_other_event_type(sessions, session_id)
        events = sessions.get(session_id).version
        signer = ExportSigner(Ed25519PrivateKey.generate())

        exported = b"".join(
            export_bytes(
                sessions,
                session_id,
                title="T ✦",
                until=events,
                exported_at="now",
                signer=signer,
                chunk=25,
            )
        )

        assert not StoredRecords(sessions.mapper).reads_json
        assert exported == reference(sessions, session_id, signer, roles.OWNER, events)
    finally:
        sessions.close()
