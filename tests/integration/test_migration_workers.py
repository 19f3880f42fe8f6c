"""The migration job with campaigns prepared in worker processes gives the same report and the
same streams as with everything in one process, on SQLite and PostgreSQL, and snapshots the
long imported streams."""

from __future__ import annotations

import io
import secrets
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
from migrate_legacy.job import Config, run
from migrate_legacy.prepare import SNAPSHOT_FROM
from tests.support.legacy_corpus import Corpus, build_corpus, simple_history, write_json
from tests.support.stores import StoreConfig

VOLATILE = ("started_at", "finished_at")
LONG = "campaign_long"


@pytest.fixture
def other_store(store: StoreConfig, tmp_path: Path) -> Iterator[StoreConfig]:
    """A second, empty store of the same kind as ``store``."""
    data_dir = tmp_path / "other"
    data_dir.mkdir()
    if store.database_url is None:
        yield StoreConfig(database_url=None, data_dir=data_dir)
        return
    name = f"gaia_t_{secrets.token_hex(8)}"
    server = urlsplit(store.database_url)._replace(path="/postgres")
    with psycopg.connect(urlunsplit(server), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = urlunsplit(urlsplit(store.database_url)._replace(path=f"/{name}"))
        yield StoreConfig(database_url=url, data_dir=data_dir)
    finally:
        with psycopg.connect(urlunsplit(server), autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            conn.execute(drop)


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    built = build_corpus(tmp_path / "legacy", big=False)
    write_json(built.root / LONG / "logs/chat_history.json", simple_history(SNAPSHOT_FROM + 20))
    write_json(built.root / LONG / "metadata.json", {"name": "Long"})
    return built


def migrate(corpus: Corpus, store: StoreConfig, workers: int) -> dict[str, Any]:
    config = Config(
        source=corpus.root,
        images=corpus.images,
        database_url=store.database_url,
        data_dir=store.data_dir,
        media_url=str(store.data_dir / "media"),
        workers=workers,
    )
    report = run(config, stream=io.StringIO(), tty=False)
    return {k: v for k, v in report.items() if k not in VOLATILE}


def streams(store: StoreConfig, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every written stream's events as the store gives them back, but for the recorded-at
    time, which differs from run to run."""
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        return {
            c["stream_id"]: [
                {k: v for k, v in vars(e).items() if k != "timestamp"}
                for e in sessions.events.get(legacy_session_id(c["legacy_id"]))
            ]
            for c in report["campaigns"]
            if c["written"]
        }
    finally:
        sessions.close()


def test_workers_give_the_report_and_streams_of_one_process(
    corpus: Corpus, store: StoreConfig, other_store: StoreConfig
) -> None:
    alone = migrate(corpus, store, workers=1)
    in_workers = migrate(corpus, other_store, workers=2)
    assert in_workers == alone
    assert alone["totals"]["events_written"] > 0
    assert streams(other_store, in_workers) == streams(store, alone)


def test_a_long_imported_stream_is_snapshotted_at_its_last_version(
    corpus: Corpus, store: StoreConfig
) -> None:
    report = migrate(corpus, store, workers=2)
    [long] = [c for c in report["campaigns"] if c["legacy_id"] == LONG]
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        assert sessions.snapshots is not None
        snapshots = list(sessions.snapshots.get(legacy_session_id(LONG)))
        assert [s.originator_version for s in snapshots] == [long["version"]]
        loaded = sessions.get(legacy_session_id(LONG))
        replayed = sessions.get(legacy_session_id(LONG), version=long["version"])
    finally:
        sessions.close()
    assert vars(loaded) == vars(replayed)
