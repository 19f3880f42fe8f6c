"""A stream's events read as plain rows by key range are exactly what the library's
``select_events`` gives, on SQLite and PostgreSQL, also page by page with the next page read
ahead, and the export made from them is still the standard library's, byte for byte; a
compressed store keeps the library's own read."""

from __future__ import annotations

import threading
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from domain import roles
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.adapters.stream_rows import RowsReader, StoredRow, pages, rows_reader
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


def reader(sessions: Sessions) -> RowsReader:
    """The store's plain-rows reader (every store of these tests has one)."""
    read = rows_reader(sessions.recorder)
    assert read is not None
    return read


@pytest.mark.parametrize(
    ("gt", "lte", "limit"), [(0, 10_000, 10_000), (0, 10_000, 7), (5, 60, 100), (40, 40, 5)]
)
def test_rows_by_key_range_are_what_select_events_returns(
    stored_story: tuple[Sessions, UUID, int], gt: int, lte: int, limit: int
) -> None:
    sessions, session_id, _ = stored_story
    read = reader(sessions)

    rows = read(session_id, gt, lte, limit)

    expected = sessions.recorder.select_events(session_id, gt=gt, lte=lte, limit=limit)
    assert rows == [(s.topic, s.state, s.originator_version) for s in expected]
    assert all(type(state) is bytes for _, state, _ in rows)


class WatchedReads:
    """A rows reader that notes each read (its start version and thread) as it begins."""

    def __init__(self, read: RowsReader) -> None:
        self._read = read
        self.calls: list[tuple[int, str]] = []
        self.started = threading.Condition()

    def __call__(self, stream_id: UUID, gt: int, lte: int, limit: int) -> list[StoredRow]:
        with self.started:
            self.calls.append((gt, threading.current_thread().name))
            self.started.notify_all()
        return self._read(stream_id, gt, lte, limit)

    def wait_for_calls(self, count: int) -> bool:
        with self.started:
            return self.started.wait_for(lambda: len(self.calls) >= count, timeout=10)


@pytest.mark.parametrize(
    ("after", "until", "size"), [(0, 10_000, 7), (0, 10_000, 10_000), (5, 60, 11), (0, 55, 5)]
)
def test_pages_give_the_rows_of_one_read_in_order(
    stored_story: tuple[Sessions, UUID, int], after: int, until: int, size: int
) -> None:
    sessions, session_id, _ = stored_story
    read = reader(sessions)
    everything = read(session_id, after, until, 10**6)

    paged = list(pages(read, session_id, after, until, size))

    assert [row for page in paged for row in page] == everything
    assert all(0 < len(page) <= size for page in paged)


def test_the_next_page_is_read_while_the_caller_holds_the_last(
    stored_story: tuple[Sessions, UUID, int],
) -> None:
    sessions, session_id, events = stored_story
    read = reader(sessions)
    watched = WatchedReads(read)
    paging = pages(watched, session_id, 0, events, 10)

    first = next(paging)

    assert watched.wait_for_calls(2), "the second page was not read ahead"
    assert watched.calls[1][0] == first[-1][2]
    assert watched.calls[1][1] != threading.current_thread().name
    paging.close()  # stopping early waits for the read in flight and leaves no thread
    assert not [t for t in threading.enumerate() if t.name.startswith("stream-pages")]


def test_a_read_that_fits_in_one_page_stays_in_the_callers_thread(
    stored_story: tuple[Sessions, UUID, int],
) -> None:
    sessions, session_id, events = stored_story
    read = reader(sessions)
    watched = WatchedReads(read)

    (page,) = list(pages(watched, session_id, 0, events, events + 1))

    assert len(page) == events
    assert watched.calls == [(0, threading.current_thread().name)]


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
