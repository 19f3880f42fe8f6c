"""Writes of different sessions committed together (group commit), on real stores: nothing lost
or doubled, a conflict fails only its own writer, and an outage fails every waiting writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from domain.adapters.config import sqlite_path, store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.application.results import Written
from domain.errors import StoreUnavailable
from domain.session import CampaignSession
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig

OWNER = "owner-1"
WAIT_S = 10.0


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


class Writer(threading.Thread):
    """One turn on one session, in a thread of its own; keeps what it got back."""

    def __init__(self, sessions: Sessions, session_id: UUID, text: str) -> None:
        super().__init__()
        self.sessions, self.session_id, self.text = sessions, session_id, text
        self.written: Written | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.written = self.sessions.submit_turn(
                session_id=self.session_id, actor=OWNER, text=self.text
            )
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error


@contextmanager
def appends_held(store: StoreConfig) -> Iterator[Any]:
    """A transaction that keeps every writer of the store's events table waiting; yields its
    connection (rolled back at the end unless the test committed it)."""
    if store.database_url:
        with psycopg.connect(store.database_url) as conn:
            conn.execute("LOCK TABLE gaia_events IN EXCLUSIVE MODE")
            yield conn
            conn.rollback()
    else:
        conn = sqlite3.connect(sqlite_path(store.data_dir, "gaia"), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            conn.close()


def next_version(sessions: Sessions, session_id: UUID) -> StoredEvent:
    """The session's next version as another process would write it: a rename."""
    session = sessions.get(session_id)
    session.rename(actor=OWNER, title="Renamed elsewhere", at=None)
    (stored,) = [sessions.mapper.to_stored_event(e) for e in session.collect_events()]
    return stored


def insert_directly(store: StoreConfig, conn: Any, stored: StoredEvent) -> None:
    """Write ``stored`` through ``conn``, as a process that skips the lock would, and commit."""
    if store.database_url:
        conn.execute(
            "INSERT INTO gaia_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s)",
            (stored.originator_id, stored.originator_version, stored.topic, stored.state),
        )
        conn.commit()
    else:
        conn.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            (stored.originator_id.hex, stored.originator_version, stored.topic, stored.state),
        )
        conn.execute("COMMIT")


def queued(sessions: Sessions) -> int:
    return len(sessions._commits._queue)


def leading(sessions: Sessions) -> bool:
    return sessions._commits._leading


def start_behind_one_commit(sessions: Sessions, ids: list[UUID]) -> list[Writer]:
    """Start a writer per session: the first commits alone and waits on the held appends,
    the others queue behind it and will be committed together."""
    writers = [Writer(sessions, sid, f"turn of {n}") for n, sid in enumerate(ids)]
    writers[0].start()
    until(lambda: leading(sessions) and queued(sessions) == 0)
    for writer in writers[1:]:
        writer.start()
    until(lambda: queued(sessions) == len(writers) - 1)
    return writers


def test_concurrent_writes_of_many_sessions_all_land_in_order(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    ids = [sessions.start_session(owner=OWNER, owner_name="Gm").session_id for _ in range(12)]
    turns = 15
    failures: list[BaseException] = []
    answers: dict[UUID, list[int]] = {sid: [] for sid in ids}

    def write(session_id: UUID) -> None:
        try:
            for n in range(turns):
                written = sessions.submit_turn(session_id=session_id, actor=OWNER, text=f"t{n}")
                answers[session_id].append(written.version)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    cold = make_sessions()
    for sid in ids:
        assert answers[sid] == list(range(2, turns + 2))
        events = list(cold.events.get(sid))
        assert [e.originator_version for e in events] == list(range(1, turns + 2))
        texts = [e.text for e in events if isinstance(e, CampaignSession.TurnSubmitted)]
        assert texts == [f"t{n}" for n in range(turns)]
        assert vars(cold.get(sid)) == vars(sessions.get(sid))


def test_writes_waiting_together_commit_in_one_transaction(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    ids = [sessions.start_session(owner=OWNER, owner_name="Gm").session_id for _ in range(4)]
    before = sessions._commits.batches
    with appends_held(store):
        writers = start_behind_one_commit(sessions, ids)
    for writer in writers:
        writer.join()
    assert [w.error for w in writers] == [None] * 4
    assert [w.written.version for w in writers if w.written] == [2] * 4
    # The first alone, the three that waited behind it together.
    assert sessions._commits.batches - before == 2
    positions = sorted(w.written.position for w in writers[1:] if w.written)
    assert positions == list(range(positions[0], positions[0] + 3))


def test_a_conflict_in_a_batch_fails_only_its_writer_which_then_succeeds(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    ids = [sessions.start_session(owner=OWNER, owner_name="Gm").session_id for _ in range(4)]
    conflicting = ids[2]
    renamed = next_version(sessions, conflicting)
    with appends_held(store) as conn:
        writers = start_behind_one_commit(sessions, ids)
        # Version 2 of one waiting session, written while its writer waits to commit its own.
        insert_directly(store, conn, renamed)
    for writer in writers:
        writer.join()
    assert [w.error for w in writers] == [None] * 4

    cold = make_sessions()
    for writer in writers:
        events = list(cold.events.get(writer.session_id))
        turns = [e for e in events if isinstance(e, CampaignSession.TurnSubmitted)]
        assert [t.text for t in turns] == [writer.text]  # each turn once
        expected = 3 if writer.session_id == conflicting else 2
        assert [e.originator_version for e in events] == list(range(1, expected + 1))
        assert writer.written is not None
        assert writer.written.version == expected
    assert cold.get(conflicting).title == "Renamed elsewhere"


@pytest.fixture
def make_postgres_sessions(postgres_store: StoreConfig) -> Iterator[SessionsFactory]:
    built: list[Sessions] = []

    def make() -> Sessions:
        built.append(
            open_sessions(
                store_env(postgres_store.database_url, postgres_store.data_dir, name="gaia")
            )
        )
        return built[-1]

    yield make
    for app in built:
        app.close()


def test_an_outage_during_a_group_commit_fails_every_waiting_writer_and_writes_nothing(
    make_postgres_sessions: SessionsFactory, postgres_store: StoreConfig
) -> None:
    store, make_sessions = postgres_store, make_postgres_sessions
    assert store.database_url
    sessions = make_sessions()
    ids = [sessions.start_session(owner=OWNER, owner_name="Gm").session_id for _ in range(4)]
    name = urlsplit(store.database_url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(store.database_url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        with appends_held(store) as conn:
            writers = start_behind_one_commit(sessions, ids)
            # The database goes away under the commit in flight and the batch waiting for it.
            allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
            admin.execute(allow.format(sql.Identifier(name), sql.SQL("false")))
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> %s",
                (name, conn.info.backend_pid),
            )
            for writer in writers:
                writer.join()
        admin.execute(allow.format(sql.Identifier(name), sql.SQL("true")))
    assert [type(w.error) for w in writers] == [StoreUnavailable] * 4

    sessions.drop_broken_connections()
    cold = make_sessions()
    for sid in ids:
        assert [e.originator_version for e in cold.events.get(sid)] == [1]
        assert sessions.submit_turn(session_id=sid, actor=OWNER, text="again").version == 2
