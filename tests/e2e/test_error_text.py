"""Failures on our side answer a code and a fixed message: a database's own words ("database is
locked", libpq's connection errors), an exception's text or a host name go to the log, never to
a caller, and never to the public /readyz."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.narration import DeltaSink, DemoNarrator, Narration, NarrationRequest
from domain.adapters.config import sqlite_path
from tests.e2e.conftest import OWNER, PLAYER, seat_table
from tests.support.api import Service, running
from tests.support.server_process import wait_until
from tests.support.stores import StoreConfig

STORE_DOWN = {
    "error": {
        "code": "store_unavailable",
        "message": "the event store is unavailable",
        "details": {},
    }
}
SECRET_WORDS = "disk /srv/gaia/private at 10.0.0.7 said no"


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """Hold the write lock of an SQLite file, as a stuck writer in another process would."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        conn.rollback()
        conn.close()


def submit(service: Service, sid: str) -> httpx.Response:
    return service.call(
        "POST", f"/api/sessions/{sid}/turns", PLAYER, json={"text": "I open the door"}
    )


def test_a_locked_sqlite_store_answers_503_without_the_drivers_words(
    sqlite_store: StoreConfig,
) -> None:
    with running(sqlite_store) as service:
        sid = seat_table(service).session_id
        service.narrated()
        with locked(sqlite_path(sqlite_store.data_dir, "gaia")):
            answer = submit(service, sid)
    assert answer.status_code == 503
    assert answer.json() == STORE_DOWN
    assert "locked" not in answer.text


@pytest.mark.slow
def test_readiness_says_a_view_is_failing_without_saying_why(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store) as service, locked(sqlite_store.data_dir / "views.sqlite3"):
        created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Stuck"})
        assert created.status_code == 201, created.text
        wait_until(
            lambda: service.state.my_sessions.last_error is not None,
            timeout=60,
            what="the view to fail on the locked file",
        )
        ready = service.call("GET", "/readyz", None)
    assert ready.status_code == 503
    assert ready.json()["projection_error"] == "failing"
    assert "locked" not in ready.text
    assert "Error" not in ready.text


@contextmanager
def write_locked(database_url: str) -> Iterator[None]:
    """Hold the event table's write lock, as a stuck writer elsewhere would: writes time out."""
    with psycopg.connect(database_url) as admin:
        admin.execute("LOCK TABLE gaia_events IN EXCLUSIVE MODE")
        yield
        admin.rollback()


def test_a_postgresql_lock_timeout_answers_503_without_its_words(
    postgres_store: StoreConfig,
) -> None:
    assert postgres_store.database_url is not None
    with running(postgres_store) as service:
        sid = seat_table(service).session_id
        service.narrated()
        with write_locked(postgres_store.database_url):
            answer = submit(service, sid)
    assert answer.status_code == 503
    assert answer.json() == STORE_DOWN
    assert "lock" not in answer.text


class CrashingNarrator(DemoNarrator):
    """A narrator that fails with an error of our own, whose text must stay in the log."""

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        raise RuntimeError(SECRET_WORDS)


def test_a_crashed_narration_tells_members_nothing_of_the_crash(service: Service) -> None:
    sid = seat_table(service).session_id
    service.narrated()
    service.state.worker.narrator = CrashingNarrator()
    assert submit(service, sid).status_code == 202
    service.narrated()
    history: Any = service.call("GET", f"/api/sessions/{sid}/history", PLAYER).json()
    failure = history["messages"][-1]
    assert failure["kind"] == "narration_failed"
    assert failure["structured"]["error_kind"] == "internal"
    assert "10.0.0.7" not in failure["text"]
    assert "RuntimeError" not in failure["text"]
