"""Where events are stored: a database URL translated into the library's settings, in one place.

SQLite files under the data dir are the embedded default; a ``postgresql://`` URL selects
PostgreSQL, through the bounded recorders of ``domain.adapters.recorders``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from eventsourcing.postgres import PostgresApplicationRecorder

POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
MAX_PORT: Final = 65535
# Worst case for one store call while PostgreSQL is down: ATTEMPTS x CONNECT_TIMEOUT_S + waits.
STORE_ATTEMPTS: Final = 2


class InvalidDatabaseURL(ValueError):
    """The database URL names no store this service can use."""


def is_postgres(database_url: str | None) -> bool:
    return bool(database_url) and urlsplit(database_url or "").scheme in POSTGRES_SCHEMES


def postgres_recorder(recorder: object) -> PostgresApplicationRecorder | None:
    """``recorder`` if it is the library's PostgreSQL recorder, else None. That module (and
    psycopg with it) is in memory only once a PostgreSQL store was opened: asking never loads it,
    so a process on the SQLite store starts without them."""
    module = sys.modules.get("eventsourcing.postgres")
    if module is not None and isinstance(recorder, module.PostgresApplicationRecorder):
        return cast("PostgresApplicationRecorder", recorder)
    return None


def sqlite_path(data_dir: Path, name: str) -> Path:
    """The SQLite file of the application or projection called ``name``."""
    return data_dir / f"{name.lower()}.sqlite3"


def store_env(
    database_url: str | None,
    data_dir: Path,
    *,
    name: str,
    pool_size: int = 5,
    max_overflow: int = 10,
    cache_size: int = 1000,
) -> dict[str, str]:
    """Library settings for the application or projection called ``name``.

    Keys carry the upper-cased name as prefix, so they win over anything unprefixed that happens
    to be in the process environment. SQLite gets one file per name: the library's SQLite tables
    have fixed names, and two projections sharing a file would share a checkpoint.
    """
    prefix = name.upper() + "_"
    env: dict[str, str] = {"AGGREGATE_CACHE_MAXSIZE": str(cache_size)} if cache_size else {}
    if not database_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(sqlite_path(data_dir, name)),
            "SQLITE_LOCK_TIMEOUT": "5",
        }
    elif is_postgres(database_url):
        env |= _postgres_env(database_url, pool_size=pool_size, max_overflow=max_overflow)
    else:
        scheme = urlsplit(database_url).scheme or "(none)"
        raise InvalidDatabaseURL(
            f"unsupported database URL scheme {scheme!r}: use postgresql://... or leave it unset "
            "for the embedded SQLite store"
        )
    return {prefix + key: value for key, value in env.items()}


def _postgres_env(url: str, *, pool_size: int, max_overflow: int) -> dict[str, str]:
    # Imported here: psycopg and the PostgreSQL recorders load only when PostgreSQL is named.
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    from domain.adapters import recorders  # noqa: PLC0415
    from domain.adapters.pools import CONNECT_TIMEOUT_S  # noqa: PLC0415

    # libpq's own parser: percent-escapes, IPv6 hosts, and parameters in the query (a host
    # there is how libpq URLs name a unix socket directory, as Cloud SQL does).
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise InvalidDatabaseURL(f"invalid database URL: {error}") from None
    user = str(params.get("user") or "postgres")
    port = str(params.get("port") or "5432")
    if not port.isdigit() or not 0 < int(port) <= MAX_PORT:
        raise InvalidDatabaseURL(f"invalid port in database URL: {port!r}")
    return {
        "PERSISTENCE_MODULE": f"{recorders.__name__}:{recorders.BoundedPostgresFactory.__name__}",
        "POSTGRES_DBNAME": str(params.get("dbname") or user),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": port,
        "POSTGRES_USER": user,
        # The library passes its password to libpq explicitly, even an empty one, which
        # stops libpq from reading PGPASSWORD itself: so it is read here, as libpq would.
        # Empty serves servers that need none (trust, or IAM through the Cloud SQL socket).
        "POSTGRES_PASSWORD": str(params.get("password") or os.environ.get("PGPASSWORD", "")),
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(max_overflow),
        "POSTGRES_MAX_WAITING": "64",
        "POSTGRES_LOCK_TIMEOUT": "5",
        # No ping on checkout: the pool's ping loop backs off 1 s, then 2 s, past its own
        # deadline, so with dead connections pooled a call could take over 5 s. A dead
        # connection fails at once instead, the bounded retry takes another, and
        # drop_broken_connections() clears the rest once the database answers again.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "5",
        # Never the library's database functions: they skip the table lock that keeps
        # notification ids in commit order (see the notes on the library).
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
