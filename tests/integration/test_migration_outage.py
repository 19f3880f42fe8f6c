"""The migration job against a PostgreSQL server that goes away halfway: the campaigns it could
not write are reported as write failures of an unavailable store, and none is half written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.ids import legacy_session_id
from migrate_legacy import apply
from migrate_legacy.job import Config, run
from tests.support.legacy_corpus import build_corpus
from tests.support.stores import StoreConfig

pytestmark = pytest.mark.postgres

UNAVAILABLE = "the event store is unavailable"


@pytest.fixture
def admin(postgres_store: StoreConfig) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    assert postgres_store.database_url
    name = urlsplit(postgres_store.database_url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(postgres_store.database_url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        yield conn, name
        conn.execute(_allow(name, allowed=True))


def _allow(name: str, *, allowed: bool) -> sql.Composed:
    return sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        sql.Identifier(name), sql.SQL("true" if allowed else "false")
    )


def test_campaigns_after_the_database_went_away_are_reported_unavailable_and_not_written(
    postgres_store: StoreConfig,
    admin: tuple[psycopg.Connection[Any], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn, name = admin
    corpus = build_corpus(tmp_path / "legacy")
    copy_binaries = apply.Importer._copy_binaries
    written_before_outage = 1
    calls = 0

    def outage_after_first_campaign(importer: apply.Importer, plan: Any) -> None:
        # The server refuses new connections and drops the job's, just before the second
        # campaign's events are inserted (after its existence check succeeded).
        nonlocal calls
        calls += 1
        if calls == written_before_outage + 1:
            conn.execute(_allow(name, allowed=False))
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        copy_binaries(importer, plan)

    monkeypatch.setattr(apply.Importer, "_copy_binaries", outage_after_first_campaign)
    config = Config(
        source=corpus.root,
        images=corpus.images,
        database_url=postgres_store.database_url,
        data_dir=postgres_store.data_dir,
        jobs=1,
        workers=1,
    )
    report = run(config, stream=io.StringIO(), tty=False)
    conn.execute(_allow(name, allowed=True))

    imported = [c for c in report["campaigns"] if c["status"].startswith("imported")]
    failed = [c for c in report["campaigns"] if c.get("detail") == UNAVAILABLE]
    assert len(imported) == written_before_outage
    assert failed, "no campaign met the outage"
    for campaign in failed:
        assert campaign["status"] == "rejected"
        reasons = {(f["reason"], f["detail"].split(" (else ")[0]) for f in campaign["files"]}
        assert ("write_failed", UNAVAILABLE) in reasons

    sessions = open_sessions(
        store_env(postgres_store.database_url, postgres_store.data_dir, name="gaia")
    )
    try:
        for campaign in failed:
            stream = legacy_session_id(campaign["legacy_id"])
            assert list(sessions.events.get(stream)) == []
        stream = legacy_session_id(imported[0]["legacy_id"])
        assert len(list(sessions.events.get(stream))) == imported[0]["written"]
    finally:
        sessions.close()
