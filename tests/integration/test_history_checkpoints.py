"""Stored checkpoints of the history fold: a view read from one equals the full fold at every
version (rewinds, hidden turns, member changes and media included), one that is corrupt, of
another fold version or of a replaced stream is not used, and one in use spares the fold the
events before it."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from domain.application import Sessions
from domain.session import CampaignSession as S
from projections.database import ViewDatabase
from projections.history import FOLD_VERSION
from projections.history_checkpoints import MAX_WAITING, TABLE, HistoryCheckpoints
from projections.records import EventRecord, StoredRecords
from projections.session_views import SessionViews
from tests.support.stores import StoreConfig
from tests.support.story import GM, play_story, start_story
from tests.support.timeline import fresh_fold
from tests.unit.test_history_fold import add_every_other_event_type, picture

EVERY = 40


class CountingRecords(StoredRecords):
    """The records reader, counting the events it reads."""

    read = 0

    def row_record_and_plain(
        self, originator_id: UUID | str, topic: str, state_bytes: bytes, version: int
    ) -> tuple[EventRecord, bool]:
        self.read += 1
        return super().row_record_and_plain(originator_id, topic, state_bytes, version)


@dataclass
class Reader:
    views: SessionViews
    records: CountingRecords
    checkpoints: HistoryCheckpoints

    def at(self, session_id: UUID, version: int) -> object:
        view = self.views.get(session_id, at_version=version)
        self.checkpoints.flush()
        return picture(view)


@pytest.fixture
def database(store: StoreConfig) -> Iterator[ViewDatabase]:
    database = ViewDatabase(store.database_url, store.data_dir)
    yield database
    database.close()


def reader(sessions: Sessions, database: ViewDatabase) -> Reader:
    checkpoints = HistoryCheckpoints(database, every=EVERY)
    views = SessionViews(sessions, checkpoints=checkpoints)
    records = CountingRecords(sessions.mapper)
    views._records = records
    return Reader(views, records, checkpoints)


def story(sessions: Sessions) -> UUID:
    session_id = start_story(sessions)
    play_story(sessions, session_id, events=260, seed=11)
    add_every_other_event_type(sessions, session_id)
    return session_id


def stored_versions(database: ViewDatabase, session_id: UUID) -> list[int]:
    with database.transaction() as cur:
        cur.execute(f"SELECT version FROM {TABLE} WHERE session_id = %s", (str(session_id),))  # noqa: S608
        return sorted(int(row[0]) for row in cur.fetchall())


def test_the_view_at_any_version_with_checkpoints_equals_the_full_fold(
    sessions: Sessions, database: ViewDatabase
) -> None:
    session_id = story(sessions)
    events = list(sessions.events.get(session_id))
    assert {type(e) for e in events} >= {S.TimelineRewound, S.MemberRemoved, S.MediaStored}
    head = events[-1].originator_version
    read = reader(sessions, database)
    sample = random.Random(3).sample(range(1, head + 1), 40)  # noqa: S311 - test data
    versions = [head, *sample, head - 1, EVERY * 3]
    for version in versions:
        assert read.at(session_id, version) == picture(fresh_fold(sessions, session_id, version))
    assert len(stored_versions(database, session_id)) >= 4
    # The live view of a cold cache starts from a checkpoint too, and catches up from there.
    live = SessionViews(sessions, checkpoints=read.checkpoints).get(session_id)
    assert picture(live) == picture(fresh_fold(sessions, session_id, head).snapshot())


def test_a_checkpoint_in_use_spares_the_fold_the_events_before_it(
    sessions: Sessions, database: ViewDatabase
) -> None:
    session_id = story(sessions)
    read = reader(sessions, database)
    read.at(session_id, EVERY * 5 + 7)
    assert stored_versions(database, session_id) == [EVERY * 5]
    read.records.read = 0
    answer = read.at(session_id, EVERY * 5 + 7)
    assert 0 < read.records.read <= 7
    assert answer == picture(fresh_fold(sessions, session_id, EVERY * 5 + 7))


@pytest.mark.parametrize(
    "spoil",
    [
        "state = 'not json'",
        "state = '{\"title\": 1}'",
        f"fold = {FOLD_VERSION - 1}",
        "event_sha256 = 'another stream'",
    ],
)
def test_a_spoilt_checkpoint_is_passed_over_for_the_full_fold(
    sessions: Sessions, database: ViewDatabase, spoil: str
) -> None:
    session_id = story(sessions)
    version = EVERY * 4 + 3
    read = reader(sessions, database)
    expected = read.at(session_id, version)
    with database.transaction() as cur:
        cur.execute(f"UPDATE {TABLE} SET {spoil} WHERE session_id = %s", (str(session_id),))  # noqa: S608
    read.records.read = 0
    assert read.at(session_id, version) == expected
    assert read.records.read > EVERY * 4 - 20  # folded from the start (ignored events aside)


def test_a_fork_reads_its_parent_through_the_parents_checkpoints(
    sessions: Sessions, database: ViewDatabase
) -> None:
    parent = story(sessions)
    at = sessions.get(parent).latest_quiet_version()
    fork = sessions.fork(session_id=parent, actor=GM, actor_name="Gm", at_version=at)
    read = reader(sessions, database)
    read.at(parent, at)
    plain = SessionViews(sessions).get(fork.session_id)
    with_checkpoints = read.views.get(fork.session_id)
    assert picture(with_checkpoints) == picture(plain)
    assert with_checkpoints.inherited == plain.inherited
    assert plain.inherited


def test_checkpoints_the_writer_is_behind_on_are_not_kept_beyond_a_bound(
    database: ViewDatabase,
) -> None:
    checkpoints = HistoryCheckpoints(database, every=EVERY)
    released = threading.Event()
    try:
        checkpoints._writer.submit(released.wait)  # the writer is busy elsewhere
        session_id = uuid4()
        for n in range(1, MAX_WAITING + 5):
            checkpoints.save(session_id, n * EVERY, "0" * 64, b"{}")
        released.set()
        checkpoints.flush()
        with database.transaction() as cur:
            cur.execute(
                f"SELECT version FROM {TABLE} WHERE session_id = %s ORDER BY version",  # noqa: S608
                (str(session_id),),
            )
            kept = [int(row[0]) for row in cur.fetchall()]
        assert kept == [n * EVERY for n in range(1, MAX_WAITING + 1)]
        checkpoints.save(session_id, 1000 * EVERY, "0" * 64, b"{}")  # room again once written
        checkpoints.flush()
        assert checkpoints.nearest(session_id, 1000 * EVERY) == (1000 * EVERY, "0" * 64, "{}")
    finally:
        released.set()
        checkpoints.close()
