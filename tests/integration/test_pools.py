"""The service's connection pools: a connection back from use a moment ago is handed out again
untested (no extra round trip under load), one idle longer is tested first, so a caller never
gets one whose server side went away while it sat in the pool."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from domain.adapters import pools
from domain.adapters.pools import Pool, connection_pool


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The backend pid of every connection the pool tests on checkout."""
    tested: list[int] = []
    real = ConnectionPool.check_connection

    def counted(conn: psycopg.Connection[object]) -> None:
        tested.append(conn.info.backend_pid)
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    return tested


@pytest.fixture
def pool(postgres_url: str, checks: list[int]) -> Iterator[Pool]:
    """A one-connection pool, opened with ``checks`` counting."""
    opened = connection_pool(postgres_url, min_size=1, max_size=1, timeout=3, autocommit=True)
    yield opened
    opened.close()


def backend_pid(pool: Pool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row
        return int(row[0])


def test_a_connection_reused_at_once_is_not_tested_again(pool: Pool, checks: list[int]) -> None:
    first = backend_pid(pool)
    checks.clear()
    for _ in range(5):
        assert backend_pid(pool) == first
    assert checks == []


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    pool: Pool, checks: list[int], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pools, "CHECK_AFTER_IDLE_S", 0.05)
    dead = backend_pid(pool)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (dead,))
    time.sleep(0.1)
    replacement = backend_pid(pool)  # no error: the dead one failed its check and was replaced
    assert replacement != dead
    assert dead in checks
