"""Writing and reading view rows in bulk: rows stored exactly as given (text made storable),
rows looked up by many keys at once, and a batch applied with the cycle collector paused."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from projections.database import ViewDatabase
from projections.my_sessions import MySessions
from projections.updater import ViewUpdater
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig
from tests.support.story import play_story, start_story


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class CollectorSpy(MySessions):
    """The "my sessions" view, noting whether the cycle collector ran during each batch."""

    def __init__(self) -> None:
        self.collecting: list[bool] = []

    def apply_batch(self, cur: Any, events: Sequence[Any]) -> None:
        self.collecting.append(gc.isenabled())
        super().apply_batch(cur, events)


def test_a_batch_is_applied_with_the_collector_paused_and_it_runs_again_after(
    make_sessions: SessionsFactory, store: StoreConfig, collector_on: None
) -> None:
    sessions = make_sessions()
    play_story(sessions, start_story(sessions), events=30)
    database = ViewDatabase(store.database_url, store.data_dir)
    view = CollectorSpy()
    try:
        ViewUpdater(sessions, database, view, batch_size=10).rebuild()
    finally:
        database.close()
    assert view.collecting
    assert not any(view.collecting)
    assert gc.isenabled()
