"""Views catching up side by side on one view database: on SQLite one batch at a time, its read
included (two threads reading and folding at once hand the GIL back and forth on every row), on
PostgreSQL side by side."""

from __future__ import annotations

import threading
from typing import Any

from domain.application import Sessions
from projections.database import Cursor, ViewDatabase
from projections.updater import ViewUpdater
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig
from tests.support.story import play_story, start_story

BATCH = 10
WAIT_S = 10.0
QUIET_S = 0.5  # how long the second view is watched for a read it must not make


class HeldView:
    """A view that counts what it applies, and can hold its first event until released."""

    def __init__(self, name: str, *, hold: bool) -> None:
        self.name = name
        self.applied = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def create_tables(self, cur: Cursor) -> None:
        pass

    def clear(self, cur: Cursor) -> None:
        self.applied = 0

    def apply(self, cur: Cursor, event: Any) -> None:
        self.entered.set()
        assert self.release.wait(WAIT_S), "the held view was never released"
        self.applied += 1


def watch_reads(sessions: Sessions) -> threading.Event:
    """An event set when ``sessions`` first reads the notification log."""
    read = threading.Event()
    recorder = sessions.recorder
    select = recorder.select_notifications

    def watched(*args: Any, **kwargs: Any) -> Any:
        read.set()
        return select(*args, **kwargs)

    recorder.select_notifications = watched  # type: ignore[method-assign]
    return read


def catch_up(updater: ViewUpdater) -> None:
    """Apply batches from the view's position until the log's end, as a starting service does."""
    while updater.run_once():
        pass


def test_views_catching_up_go_one_batch_at_a_time_on_sqlite_and_side_by_side_on_postgres(
    store: StoreConfig, make_sessions: SessionsFactory
) -> None:
    writer = make_sessions()
    play_story(writer, start_story(writer), events=3 * BATCH)
    head = writer.max_position()
    database = ViewDatabase(store.database_url, store.data_dir)
    held, other = HeldView("held", hold=True), HeldView("other", hold=False)
    held_updater = ViewUpdater(make_sessions(), database, held, batch_size=BATCH)
    other_sessions = make_sessions()
    other_read = watch_reads(other_sessions)
    other_updater = ViewUpdater(other_sessions, database, other, batch_size=BATCH)
    runners = [
        threading.Thread(target=catch_up, args=(updater,), daemon=True)
        for updater in (held_updater, other_updater)
    ]
    try:
        runners[0].start()
        assert held.entered.wait(WAIT_S)  # the held view is inside its first catch-up batch
        runners[1].start()
        if database.is_postgres:
            # Nothing of the other view waits for the held one.
            runners[1].join(WAIT_S)
            assert not runners[1].is_alive()
            assert other_updater.position == head
            assert other.applied == head
        else:
            # The other view does not even read before the held view's batch is written.
            assert not other_read.wait(QUIET_S)
            assert other.applied == 0
        held.release.set()
        for runner in runners:
            runner.join(WAIT_S)
            assert not runner.is_alive()
        assert held_updater.position == other_updater.position == head
        assert held.applied == other.applied == head
    finally:
        held.release.set()
        database.close()
