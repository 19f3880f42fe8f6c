"""Checkpointed views and their rebuild go past events stored by older code that a view cannot
hold or apply, recording each one instead of stopping on it."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.application import Sessions
from domain.session import CampaignSession
from projections.__main__ import main as projections_cli
from projections.database import ViewDatabase
from projections.media_index import MediaIndex, media_named
from projections.my_sessions import MySessions, sessions_of
from projections.runner import ProjectionRunner
from tests.support.stores import StoreConfig

OWNER = "ann"


def store_poison(sessions: Sessions) -> list[int]:
    """Events older code could write past every check: a fork start no view can apply, media
    whose name holds a NUL (which PostgreSQL text refuses), and media too large for a BIGINT
    (the database refuses the row mid-transaction). Their positions."""
    fork = CampaignSession._create(
        CampaignSession.SessionStarted,
        id=uuid4(),
        title="Broken fork",
        owner=OWNER,
        owner_name="Ann",
        settings={},
        origin={"kind": "fork", "parent_id": str(uuid4()), "at_version": "not a version"},
        actor=OWNER,
        occurred_at=None,
    )
    positions = [sessions.save_new(fork).position]
    sid = sessions.start_session(owner=OWNER, owner_name="Ann").session_id
    for filename, size in (("bad\u0000.png", 1), ("huge.png", 2**70)):
        session = sessions.get(sid)
        session.trigger_event(
            session.MediaStored,
            media_id=uuid4(),
            kind="image",
            content_type="image/png",
            size=size,
            sha256="0" * 64,
            storage_key="k",
            filename=filename,
            turn_id=None,
            source="upload",
            legacy=None,
            actor=OWNER,
            occurred_at=None,
        )
        positions.append(sessions.save(session)[-1].notification.id)
    return positions


def cli(store: StoreConfig) -> list[str]:
    args = ["--data-dir", str(store.data_dir)]
    if store.database_url:
        args += ["--database-url", store.database_url]
    return [*args, "rebuild"]


def listed_titles(database: ViewDatabase) -> list[str]:
    with database.transaction() as cur:
        return sorted(entry["title"] for entry in sessions_of(cur, OWNER))


def test_views_skip_what_they_cannot_apply_and_store_what_they_can(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    my_sessions = ProjectionRunner(sessions, database, MySessions())
    media = ProjectionRunner(sessions, database, MediaIndex())
    skipped: list[str] = []
    my_sessions.on_skip.append(skipped.append)
    store_poison(sessions)
    sessions.start_session(owner=OWNER, owner_name="Ann", title="Later")
    for runner in (my_sessions, media):
        while runner.run_once():
            pass
        assert runner.position == sessions.max_position()
    assert "Later" in listed_titles(database)
    assert skipped == ["my_sessions"]
    assert my_sessions.skipped == 1
    assert media.skipped == 2  # the fork (it copies a parent's rows too) and the huge size
    assert media.last_skipped is not None
    assert media.last_skipped["position"] == sessions.max_position() - 1
    with database.transaction() as cur:
        [row] = media_named(cur, "bad\ufffd.png")
    assert row.kind == "image"
    database.close()


def test_a_rebuild_goes_past_events_it_cannot_apply_and_equals_the_live_view(
    sessions: Sessions, store: StoreConfig, capsys: Any
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    live = ProjectionRunner(sessions, database, MySessions())
    store_poison(sessions)
    later = sessions.start_session(owner=OWNER, owner_name="Ann", title="Later")
    while live.run_once():
        pass
    before = listed_titles(database)

    assert projections_cli(cli(store)) == 0
    out = capsys.readouterr().out
    head = sessions.max_position()
    assert f"my_sessions: rebuilt to position {head}" in out
    assert f"media_index: rebuilt to position {head}" in out
    assert listed_titles(database) == before
    assert UUID(str(later.session_id))
    database.close()
