"""Legacy ids map to stable session ids; database URLs become the library's settings in one place."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from domain.adapters.config import InvalidDatabaseURL, store_env
from domain.ids import legacy_child_id, legacy_session_id


def test_the_same_legacy_id_always_maps_to_the_same_session_id() -> None:
    assert legacy_session_id("campaign_7") == legacy_session_id("campaign_7")
    assert legacy_session_id("campaign_7").version == 5


def test_legacy_session_ids_never_change_between_releases() -> None:
    # Pinned: a changed namespace or key would make a re-run import every campaign again.
    assert legacy_session_id("campaign_7") == UUID("4083a4e3-ff42-53dc-93dc-8a791cc8633c")


def test_different_legacy_ids_map_to_different_session_ids() -> None:
    ids = {legacy_session_id(name) for name in ("campaign_1", "campaign_10", "default - Vey", "")}
    assert len(ids) == 4


def test_child_ids_are_stable_within_a_session_and_differ_across_sessions() -> None:
    a, b = legacy_session_id("campaign_1"), legacy_session_id("campaign_2")
    assert legacy_child_id(a, "message", 3) == legacy_child_id(a, "message", 3)
    assert legacy_child_id(a, "message", 3) != legacy_child_id(b, "message", 3)
    assert legacy_child_id(a, "message", 3) != legacy_child_id(a, "media", 3)


def test_no_database_url_selects_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    env = store_env(None, tmp_path, name="gaia")
    assert env["GAIA_PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["GAIA_SQLITE_DBNAME"] == str(tmp_path / "gaia.sqlite3")


def test_a_postgres_url_without_a_password_is_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    env = store_env("postgresql://gaia@db.internal:6543/campaigns", tmp_path, name="gaia")
    assert env["GAIA_POSTGRES_HOST"] == "db.internal"
    assert env["GAIA_POSTGRES_PORT"] == "6543"
    assert env["GAIA_POSTGRES_USER"] == "gaia"
    assert env["GAIA_POSTGRES_DBNAME"] == "campaigns"
    assert env["GAIA_POSTGRES_PASSWORD"] == ""
    assert env["GAIA_POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"


def test_a_password_with_escaped_characters_is_unquoted(tmp_path: Path) -> None:
    env = store_env("postgresql://gaia:p%40ss%3Aword@127.0.0.1/gaia", tmp_path, name="gaia")
    assert env["GAIA_POSTGRES_PASSWORD"] == "p@ss:word"
    assert env["GAIA_POSTGRES_PORT"] == "5432"


def test_pgpassword_serves_when_the_url_has_no_password_as_libpq_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    env = store_env("postgresql://gaia@127.0.0.1/gaia", tmp_path, name="gaia")
    assert env["GAIA_POSTGRES_PASSWORD"] == "from-the-environment"
    env = store_env("postgresql://gaia:in-the-url@127.0.0.1/gaia", tmp_path, name="gaia")
    assert env["GAIA_POSTGRES_PASSWORD"] == "in-the-url"


def test_a_cloud_sql_socket_in_the_query_is_the_host(tmp_path: Path) -> None:
    url = "postgresql://gaia@/gaia?host=/cloudsql/project:europe-west1:gaia"
    env = store_env(url, tmp_path, name="gaia")
    assert env["GAIA_POSTGRES_HOST"] == "/cloudsql/project:europe-west1:gaia"


@pytest.mark.parametrize("url", ["mysql://x@y/z", "sqlite:///tmp/x.db", "not a url"])
def test_an_unsupported_database_url_is_refused_with_a_clear_message(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidDatabaseURL, match="postgresql://"):
        store_env(url, tmp_path, name="gaia")


def test_settings_keys_carry_the_name_so_they_win_over_stray_environment(tmp_path: Path) -> None:
    env = store_env(None, tmp_path, name="views")
    assert all(key.startswith("VIEWS_") for key in env)
