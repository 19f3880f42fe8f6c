"""PostgreSQL connection pools: one factory for every pool the service opens, and one way to
clear the connections that died while the database was away."""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg_pool import ConnectionPool

# libpq's minimum; a store call while PostgreSQL is down then fails within seconds.
CONNECT_TIMEOUT_S: Final = 2
# How long a pool keeps re-trying one lost connection (backing off 1 s, 2 s, 4 s, ...) before
# it gives up and connects afresh on the next demand. psycopg_pool's default of 5 minutes, after
# an outage of seconds, keeps a pool waiting out its backoff long after the database is back.
RECONNECT_TIMEOUT_S: Final = 1.0

Pool = ConnectionPool[psycopg.Connection[Any]]


def connection_pool(
    conninfo: str,
    *,
    min_size: int,
    max_size: int,
    timeout: float,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    autocommit: bool = False,
    check: bool = True,
) -> Pool:
    """An open pool on ``conninfo`` (a URL or key=value string).

    ``timeout`` bounds the wait for a free connection. With ``check``, a connection is tested
    as it leaves the pool, so a caller never gets one that died while idle.
    """
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=True,
        kwargs={"autocommit": autocommit, "connect_timeout": connect_timeout},
        check=ConnectionPool.check_connection if check else None,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
    )


def drop_broken_connections(pool: ConnectionPool[Any] | None) -> None:
    """Test the idle pooled connections and replace the dead ones (no pool: nothing to do).

    Called once the database answers again after an error: pools that skip the check on
    checkout would otherwise fail one call for each connection that died meanwhile.
    """
    if pool is not None:
        pool.check()
