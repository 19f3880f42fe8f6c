"""Writing and reading view rows in bulk: rows stored exactly as given (text made storable),
rows looked up by many keys at once, and a large batch applied with the cycle collector
paused."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from projections.database import ViewDatabase, storable
from projections.my_sessions import MySessions
from projections.updater import PAUSE_FROM, ViewUpdater
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig
from tests.support.story import play_story, start_story

TABLE = "bulk_rows"
COLUMNS = ("session_id", "ref", "slot", "version", "note")
STRANGE = ("nul \x00 here", "lone \ud800 surrogate", "Sälzweg ✦ \U0001f40d", "", "plain")


@pytest.fixture
def database(store: StoreConfig) -> Iterator[ViewDatabase]:
    database = ViewDatabase(store.database_url, store.data_dir)
    with database.ddl() as cur:
        cur.execute(
            f"CREATE TABLE {TABLE} (session_id TEXT NOT NULL, ref TEXT NOT NULL,"
            " slot TEXT NOT NULL, version BIGINT NOT NULL, note TEXT,"
            " PRIMARY KEY (session_id, ref, slot))"
        )
    yield database
    database.close()


def stored(database: ViewDatabase) -> list[tuple[Any, ...]]:
    with database.transaction() as cur:
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE}")  # noqa: S608 - fixed names
        return sorted(tuple(row) for row in cur.fetchall())


def test_inserted_rows_are_stored_as_given_with_text_made_storable(
    database: ViewDatabase,
) -> None:
    rows = [
        (f"s{n % 3}", STRANGE[n % len(STRANGE)] + str(n), "turn", n * 10**12, STRANGE[n % 5])
        for n in range(1200)
    ] + [("s9", "r", "reply", 1, None)]
    with database.transaction() as cur:
        cur.insert_rows(TABLE, COLUMNS, iter(rows))
    assert stored(database) == sorted(tuple(storable(v) for v in row) for row in rows)
    assert ("s0", "nul \ufffd here0", "turn", 0, "nul \ufffd here") in stored(database)


def test_inserting_no_rows_stores_nothing(database: ViewDatabase) -> None:
    with database.transaction() as cur:
        cur.insert_rows(TABLE, COLUMNS, [])
    assert stored(database) == []


def test_rows_are_found_by_many_keys_at_once_and_missing_keys_find_nothing(
    database: ViewDatabase,
) -> None:
    rows = [(f"s{n % 7}", f"ref-{n}", slot, n, None) for n in range(1000) for slot in ("a", "b")]
    with database.transaction() as cur:
        cur.insert_rows(TABLE, COLUMNS, rows)
    wanted = {(f"s{n % 7}", f"ref-{n}") for n in range(0, 1000, 2)}  # 500 keys: past one chunk
    missing = {("s0", "ref-1"), ("s-none", "ref-0"), ("s1", "nul \x00"), ("s2", "\udc00")}
    with database.transaction() as cur:
        found = cur.select_by_keys(TABLE, ("ref", "slot", "version"), COLUMNS[:2], wanted | missing)
    assert sorted(tuple(row) for row in found) == sorted(
        (ref, slot, version) for sid, ref, slot, version, _ in rows if (sid, ref) in wanted
    )


def test_text_keys_are_matched_as_stored(database: ViewDatabase) -> None:
    with database.transaction() as cur:
        cur.insert_rows(TABLE, COLUMNS, [("s\x00", "r\ud800", "a", 1, None)])
        found = cur.select_by_keys(TABLE, ("version",), COLUMNS[:2], [("s\x00", "r\ud800")])
    assert [tuple(row) for row in found] == [(1,)]


def test_no_keys_find_nothing(database: ViewDatabase) -> None:
    with database.transaction() as cur:
        cur.insert_rows(TABLE, COLUMNS, [("s", "r", "a", 1, None)])
        assert cur.select_by_keys(TABLE, ("version",), COLUMNS[:2], []) == []


class CollectorSpy(MySessions):
    """The "my sessions" view, noting each batch's size and whether the collector was on."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, bool]] = []

    def apply_batch(self, cur: Any, events: Sequence[Any]) -> None:
        self.batches.append((len(events), gc.isenabled()))
        super().apply_batch(cur, events)


def test_a_large_batch_is_applied_with_the_collector_paused_and_a_small_one_with_it_on(
    make_sessions: SessionsFactory, database: ViewDatabase, collector_on: None
) -> None:
    sessions = make_sessions()
    play_story(sessions, start_story(sessions), events=PAUSE_FROM + 30)
    view = CollectorSpy()
    ViewUpdater(sessions, database, view, batch_size=PAUSE_FROM).rebuild()
    sizes = [size for size, _collecting in view.batches]
    assert sizes[0] == PAUSE_FROM
    assert 0 < sizes[-1] < PAUSE_FROM
    assert view.batches == [(size, size < PAUSE_FROM) for size in sizes]
    assert gc.isenabled()
