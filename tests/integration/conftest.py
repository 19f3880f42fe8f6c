"""Integration fixtures: the Sessions application on a real store (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from tests.support.stores import StoreConfig

SessionsFactory = Callable[..., Sessions]


@pytest.fixture
def make_sessions(store: StoreConfig) -> Iterator[SessionsFactory]:
    """Build Sessions applications on the test's store (several act like several processes)."""
    built: list[Sessions] = []

    def make(**kwargs: object) -> Sessions:
        env = store_env(store.database_url, store.data_dir, name="gaia")
        app = open_sessions(env, **kwargs)  # type: ignore[arg-type]
        built.append(app)
        return app

    yield make
    for app in built:
        app.close()


@pytest.fixture
def sessions(make_sessions: SessionsFactory) -> Sessions:
    return make_sessions()
