"""PostgreSQL connection pools: one factory for every pool the service opens, and one way to
clear the connections that died while the database was away."""

from __future__ import annotations

import weakref
from time import monotonic
from typing import Any, Final

import psycopg
from psycopg_pool import ConnectionPool

# libpq's minimum; a store call while PostgreSQL is down then fails within seconds.
CONNECT_TIMEOUT_S: Final = 2
# How long a pool keeps re-trying one lost connection (backing off 1 s, 2 s, 4 s, ...) before
# it gives up and connects afresh on the next demand. psycopg_pool's default of 5 minutes, after
# an outage of seconds, keeps a pool waiting out its backoff long after the database is back.
RECONNECT_TIMEOUT_S: Final = 1.0
# A connection handed out again within this long of coming back is not tested first: under load
# that saves a round trip on every checkout. One that died that soon fails its caller, as any
# call does when the database goes away mid-use, and the store circuit drops the broken ones
# once the database answers again (``drop_broken_connections``).
CHECK_AFTER_IDLE_S: Final = 1.0

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

    ``timeout`` bounds the wait for a free connection. With ``check``, a connection idle for
    more than ``CHECK_AFTER_IDLE_S`` is tested as it leaves the pool, so a caller does not get
    one that died while idle.
    """
    idle = _IdleCheck() if check else None
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=True,
        kwargs={"autocommit": autocommit, "connect_timeout": connect_timeout},
        check=idle.check if idle else None,
        reset=idle.returned if idle else None,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
    )


class _IdleCheck:
    """Test a connection leaving the pool only if it has been idle long enough to have died."""

    def __init__(self) -> None:
        self._returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def returned(self, conn: psycopg.Connection[Any]) -> None:
        self._returned_at[conn] = monotonic()

    def check(self, conn: psycopg.Connection[Any]) -> None:
        returned_at = self._returned_at.get(conn)
        if returned_at is None or monotonic() - returned_at > CHECK_AFTER_IDLE_S:
            ConnectionPool.check_connection(conn)


def drop_broken_connections(pool: ConnectionPool[Any] | None) -> None:
    """Test the idle pooled connections and replace the dead ones (no pool: nothing to do).

    Called once the database answers again after an error: pools that skip the check on
    checkout would otherwise fail one call for each connection that died meanwhile.
    """
    if pool is not None:
        pool.check()
