"""The migration job on the generated legacy corpus, against real stores (SQLite and PostgreSQL):
the report, the migrated histories, re-runs, dry runs, conflicts, media and owners."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.ids import legacy_session_id
from migrate_legacy.cli import main
from migrate_legacy.job import Config, run
from projections.history import SessionView
from tests.support.legacy_corpus import (
    OWNER_ID,
    PNG,
    Corpus,
    build_corpus,
    original_message,
    simple_history,
    write_json,
)
from tests.support.stores import StoreConfig

VOLATILE = ("started_at", "finished_at")
PNG_DIGEST = hashlib.sha256(PNG).hexdigest()


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return build_corpus(tmp_path / "legacy")


@pytest.fixture
def sessions(store: StoreConfig) -> Iterator[Sessions]:
    app = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    yield app
    app.close()


def migrate(corpus: Corpus, store: StoreConfig, **options: Any) -> dict[str, Any]:
    config = Config(
        source=corpus.root,
        images=corpus.images,
        database_url=store.database_url,
        data_dir=store.data_dir,
        **options,
    )
    return run(config, stream=io.StringIO(), tty=False)


def entry(report: dict[str, Any], source: str) -> dict[str, Any]:
    return next(c for c in report["campaigns"] if c["source"] == source)


def history(sessions: Sessions, legacy_id: str) -> list[dict[str, Any]]:
    session_id = legacy_session_id(legacy_id)
    view = SessionView(session_id)
    for event in sessions.events.get(session_id):
        view.apply(event)
    return view.visible_messages()


def test_each_campaign_gets_the_status_name_warnings_and_counts_of_the_spec(
    corpus: Corpus, store: StoreConfig
) -> None:
    report = migrate(corpus, store)
    assert {c["source"] for c in report["campaigns"]} == {c.source for c in corpus.campaigns}
    for expected in corpus.campaigns:
        got = entry(report, expected.source)
        assert (got["legacy_id"], got["layout"], got["status"]) == (
            expected.legacy_id,
            expected.layout,
            expected.status,
        ), got["source"]
        assert expected.warnings <= set(got["warnings"]), got["source"]
        if expected.display_name is not None:
            assert got["display_name"] == expected.display_name
        if expected.status.startswith("imported"):
            assert got["awaiting_reply"] is expected.awaiting_reply, got["source"]
        assert expected.counts.items() <= got["counts"].items(), got["source"]
        reasons = {f["path"]: f.get("reason") for f in got["files"]}
        assert expected.reasons.items() <= reasons.items(), got["source"]
    assert report["exit_code"] == 1  # orphans, conflicts and corrupt files were rejected


def test_every_file_is_reported_exactly_once_with_a_fate(
    corpus: Corpus, store: StoreConfig
) -> None:
    report = migrate(corpus, store)
    listed = [f["path"] for c in report["campaigns"] for f in c["files"]]
    listed += [f["path"] for o in report["orphans"] for f in o["files"]]
    assert len(listed) == len(set(listed))

    def is_global(path: str) -> bool:
        return any(path == g or path.startswith(g + "/") for g in corpus.global_paths)

    on_disk = {
        path.relative_to(corpus.root).as_posix()
        for path in corpus.root.rglob("*")
        if not path.is_dir() or path.name.endswith(".json")  # a directory named like a file
    }
    assert {p for p in on_disk if not is_global(p)} == set(listed)
    assert {f["fate"] for c in report["campaigns"] for f in c["files"]} == {
        "imported",
        "preserved",
        "rejected",
    }
    assert {o["source"] for o in report["orphans"]} == corpus.orphan_sources
    assert {g["path"] for g in report["global"]} == corpus.global_paths


def test_the_migrated_history_equals_the_legacy_messages_in_order(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store)
    for expected in corpus.imported():
        messages = history(sessions, expected.legacy_id)
        assert all("legacy" in m for m in messages)
        rebuilt = [original_message(m) for m in messages]
        assert json.dumps(rebuilt, ensure_ascii=False) == json.dumps(
            expected.messages, ensure_ascii=False
        ), expected.source
    big = history(sessions, "campaign_50")
    assert len(big) == 2000
    assert big[1000]["text"] == corpus.expected("campaign_50").messages[1000]["content"]
    raw_json_reply = corpus.expected("campaign_50").messages[1001]["content"]
    assert big[1001]["legacy"]["content"] == raw_json_reply  # the raw string, byte for byte
    assert big[1001]["structured"] == json.loads(raw_json_reply)


def test_an_imported_campaign_keeps_owner_members_and_awaiting_turn(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store)
    session = sessions.get(legacy_session_id("campaign_140"))
    assert session.owner == OWNER_ID
    assert set(session.members) == corpus.expected("campaign_140").members
    assert session.pending_turns() == []  # imported turns are never narrated automatically
    last = history(sessions, "campaign_140")[-1]
    assert (last["role"], last["held"], last["legacy"]["awaiting_reply"]) == ("player", True, True)
    origin = session.origin
    assert origin["legacy_id"] == "campaign_140"
    assert origin["source"] == "campaign_140"
    assert origin["import"]["metadata"]["owner_email"] == "gm@example.com"


def test_a_second_run_writes_nothing_and_reports_already_imported(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    first = migrate(corpus, store)
    position = sessions.max_position()
    second = migrate(corpus, store)
    assert sessions.max_position() == position
    assert second["totals"]["events_written"] == 0
    for before, after in zip(first["campaigns"], second["campaigns"], strict=True):
        if before["status"] in ("imported", "imported_partial"):
            assert after["status"] == "already_imported"
            assert after["version"] == before["version"]
        else:
            assert after["status"] == before["status"]


def test_a_dry_run_writes_nothing_and_reports_what_a_run_would(
    corpus: Corpus, store: StoreConfig, tmp_path: Path
) -> None:
    dry = migrate(corpus, store, dry_run=True, media_url=str(tmp_path / "media"))
    assert not (tmp_path / "media").exists()
    if store.database_url is None:
        assert list(store.data_dir.iterdir()) == []
    else:
        with psycopg.connect(store.database_url) as conn:
            query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            assert conn.execute(query).fetchone() == (0,)
    real = migrate(corpus, store, media_url=str(tmp_path / "media"))

    def comparable(report: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in report.items() if k not in (*VOLATILE, "dry_run")}
        out["campaigns"] = [
            {k: v for k, v in c.items() if k not in ("written", "version")}
            for c in report["campaigns"]
        ]
        out["totals"] = {k: v for k, v in report["totals"].items() if k != "events_written"}
        return out

    assert comparable(dry) == comparable(real)
    assert dry["totals"]["events_written"] == 0


def test_a_changed_source_is_reported_as_a_conflict_and_not_merged(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store)
    before = history(sessions, "campaign_3")
    write_json(corpus.root / "campaigns/logs/campaign_3.json", simple_history(4, prefix="new"))
    report = migrate(corpus, store)
    got = entry(report, "campaigns/logs/campaign_3.json")
    assert got["status"] == "conflict"
    assert got["conflict"]["changed"] == ["campaigns/logs/campaign_3.json"]
    assert {f["reason"] for f in got["files"]} == {"conflict"}
    assert {"legacy_id": "campaign_3", "kind": "source_changed"}.items() <= next(
        c for c in report["conflicts"] if c["legacy_id"] == "campaign_3"
    ).items()
    assert history(sessions, "campaign_3") == before


def test_a_repaired_campaign_is_imported_by_a_later_run(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store)
    write_json(corpus.root / "campaign_30/logs/chat_history.json", simple_history(2))
    report = migrate(corpus, store)
    assert entry(report, "campaign_30")["status"] == "imported"
    assert len(history(sessions, "campaign_30")) == 2


def test_image_binaries_are_copied_into_the_media_store_by_digest(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store)
    session_id = legacy_session_id("campaign_140")
    view = SessionView(session_id)
    for event in sessions.events.get(session_id):
        view.apply(event)
    [image] = view.media.values()
    stored = store.data_dir / "media" / image["storage_key"]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == image["sha256"]
    assert image["filename"] == "scene_abc.png"
    assert image["source"] == "legacy"


def test_an_ownerless_campaign_gets_its_owner_from_the_operator_command(
    corpus: Corpus, store: StoreConfig, sessions: Sessions, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(corpus, store)
    args = ["--data-dir", str(store.data_dir)]
    if store.database_url:
        args += ["--database-url", store.database_url]
    assert main(["assign-owner", "campaign_3", "user-9", *args]) == 0
    assert sessions.get(legacy_session_id("campaign_3")).owner == "user-9"
    assert main(["assign-owner", "campaign_3", "user-9", *args]) == 0  # already: a no-op
    assert main(["assign-owner", "campaign_3", "user-10", *args]) == 1  # owners are permanent
    assert main(["assign-owner", "campaign_404", "user-9", *args]) == 1
    assert "no imported campaign" in capsys.readouterr().err


def test_the_default_owner_is_given_only_to_ownerless_campaigns(
    corpus: Corpus, store: StoreConfig, sessions: Sessions
) -> None:
    migrate(corpus, store, default_owner="operator-1")
    assert sessions.get(legacy_session_id("campaign_3")).owner == "operator-1"
    assert sessions.get(legacy_session_id("campaign_140")).owner == OWNER_ID


def test_the_cli_writes_the_report_and_exits_by_what_was_rejected(
    tmp_path: Path, sqlite_store: StoreConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "clean"
    write_json(clean / "campaign_1/logs/chat_history.json", simple_history(2))
    out = tmp_path / "report.json"
    args = ["--data-dir", str(sqlite_store.data_dir), "--output", str(out)]
    assert main([str(clean), *args]) == 0
    report = json.loads(out.read_text())
    assert report["campaigns"][0]["status"] == "imported"
    broken = clean / "campaign_2/metadata.json"
    broken.parent.mkdir()
    broken.write_bytes(b"{")
    assert main([str(clean), *args]) == 1
    assert "campaigns: 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["/nonexistent/legacy"],
        ["{src}", "--naive-tz", "Mars/Olympus"],
        ["{src}", "--database-url", "mysql://x"],
        ["{src}", "--media-url", "s3://bucket"],
        ["{src}", "--env", "nowhere"],
        ["{src}", "--jobs", "0"],
    ],
)
def test_bad_usage_exits_with_status_two(
    argv: list[str], tmp_path: Path, sqlite_store: StoreConfig
) -> None:
    (tmp_path / "src/campaigns/prod").mkdir(parents=True)
    args = [a.format(src=tmp_path / "src") for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--data-dir", str(sqlite_store.data_dir)])
    assert exit_info.value.code == 2


def test_events_stored_before_the_legacy_field_read_with_none(sessions: Sessions) -> None:
    """TurnSubmitted v2, NarrationCompleted v1 and MediaStored v1 are upcast: ``legacy = None``."""
    source = sessions.start_session(owner="o", owner_name="O").session_id
    turn = sessions.submit_turn(session_id=source, actor="o", text="hi")
    sessions.complete_narration(
        session_id=source,
        turn_id=turn.turn_id,
        narrative="n",
        provider="p",
        model="m",
        latency_ms=1,
    )
    sessions.record_media(
        session_id=source,
        actor="o",
        kind="image",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        storage_key="k",
        filename="f.png",
        source="upload",
    )
    old_versions = {"gaia.TurnSubmitted": 2, "gaia.NarrationCompleted": 1, "gaia.MediaStored": 1}
    target: UUID = sessions.start_session(owner="o", owner_name="O").session_id
    rewritten = []
    for stored in sessions.recorder.select_events(source, gt=1):
        state = json.loads(stored.state)
        del state["legacy"]
        state["class_version"] = old_versions[stored.topic]
        if state["class_version"] == 1:
            del state["class_version"]  # version 1 events carried no class_version
        rewritten.append(replace(stored, originator_id=target, state=json.dumps(state).encode()))
    sessions.recorder.insert_events(rewritten)
    events = list(sessions.events.get(target, gt=1))
    assert [type(e).__name__ for e in events] == [
        "TurnSubmitted",
        "NarrationCompleted",
        "MediaStored",
    ]
    assert [e.legacy for e in events] == [None, None, None]


def test_media_urls_may_name_a_directory_or_a_file_url(tmp_path: Path) -> None:
    from domain.adapters.media import (  # noqa: PLC0415
        LocalMediaStore,
        open_media_store,
        put_checked,
    )

    data = b"bytes"
    digest = hashlib.sha256(data).hexdigest()
    for url in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}"):
        media = open_media_store(url)
        assert isinstance(media, LocalMediaStore)
        key = put_checked(media, data, sha256=digest, content_type="x/y")
        assert put_checked(media, data, sha256=digest, content_type="x/y") == key
        assert (media.root / key).read_bytes() == data
    assert os.listdir(tmp_path / "a" / "sha256" / digest[:2]) == [digest]


def test_image_binaries_can_go_to_a_gcs_bucket(tmp_path: Path, sqlite_store: StoreConfig) -> None:
    from google.cloud.storage import Client  # noqa: PLC0415

    from tests.support.gcs import BUCKET, emulator  # noqa: PLC0415

    corpus = build_corpus(tmp_path / "legacy", big=False)
    with emulator():
        report = migrate(corpus, sqlite_store, media_url=f"gs://{BUCKET}/legacy")
        client = Client(project="test")
        try:
            names = {b.name for b in client.list_blobs(BUCKET, prefix="legacy/sha256/")}
            blob = client.bucket(BUCKET).blob(f"legacy/sha256/{PNG_DIGEST[:2]}/{PNG_DIGEST}")
            stored = blob.download_as_bytes()
        finally:
            client.close()
    assert entry(report, "campaign_140")["counts"]["image_binaries"] == 1
    assert len(names) == 3  # two images and one preserved binary file
    assert hashlib.sha256(stored).hexdigest() == PNG_DIGEST


def test_a_binary_that_changes_before_it_is_copied_rejects_only_its_campaign(
    tmp_path: Path, sqlite_store: StoreConfig
) -> None:
    from domain.adapters.media import LocalMediaStore  # noqa: PLC0415
    from migrate_legacy.apply import importer  # noqa: PLC0415
    from migrate_legacy.campaign import parse_campaign  # noqa: PLC0415
    from migrate_legacy.discovery import discover  # noqa: PLC0415
    from migrate_legacy.job import image_finder  # noqa: PLC0415
    from migrate_legacy.mapping import Options, map_campaign  # noqa: PLC0415
    from migrate_legacy.sources import load  # noqa: PLC0415
    from migrate_legacy.timestamps import UTC_ZONE  # noqa: PLC0415

    corpus = build_corpus(tmp_path / "legacy", big=False)
    [candidate] = [c for c in discover(corpus.root).campaigns if c.source == "campaign_140"]
    parsed = parse_campaign(candidate, [load(f) for f in candidate.files], UTC_ZONE)
    plan = map_campaign(parsed, Options(UTC_ZONE), image_finder(corpus.images))
    (corpus.images / "campaign_140/scenes/scene_abc.png").write_bytes(b"tampered")
    media = LocalMediaStore(tmp_path / "media")
    with importer(
        database_url=None, data_dir=sqlite_store.data_dir, media=media, dry_run=False, pool=1
    ) as job:
        outcome = job.apply(plan)
        assert job.stored_provenance(plan.stream_id) is None
    assert (outcome.status, outcome.reason) == ("rejected", "write_failed")
    assert "changed while the job ran" in outcome.detail
