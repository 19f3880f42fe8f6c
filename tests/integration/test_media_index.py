"""The media index view: media found by file name across sessions, a fork's inherited rows, and a
rebuild from zero equal to the view kept live."""

from __future__ import annotations

import asyncio
from uuid import UUID

from api.media.service import Media, MediaWriter
from api.media.store import open_store
from domain.application import Sessions
from domain.media import storage_key
from projections.database import ViewDatabase
from projections.media_index import MEDIA, IndexedMedia, MediaIndex, media_named
from projections.updater import ViewUpdater
from tests.support.api import settings_for
from tests.support.stores import StoreConfig

OWNER = "owner-1"


def store_media(sessions: Sessions, session_id: UUID, filename: str, kind: str = "image") -> str:
    digest = f"{len(filename):02x}" + "0" * 62
    media_id, _ = sessions.record_media(
        session_id=session_id,
        actor=OWNER,
        kind=kind,
        content_type="image/png" if kind == "image" else "audio/mpeg",
        size=10,
        sha256=digest,
        storage_key=storage_key(digest),
        filename=filename,
        source="upload",
    )
    return str(media_id)


def named(database: ViewDatabase, filename: str, kind: str | None = None) -> list[IndexedMedia]:
    with database.transaction() as cur:
        return media_named(cur, filename, kind)


def test_media_is_found_by_file_name_in_every_session_that_holds_it(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    first = sessions.start_session(owner=OWNER, owner_name="O").session_id
    second = sessions.start_session(owner=OWNER, owner_name="O").session_id
    a = store_media(sessions, first, "portrait.png")
    b = store_media(sessions, second, "portrait.png")
    store_media(sessions, second, "theme.mp3", kind="audio")
    updater.rebuild()
    rows = named(database, "portrait.png")
    assert {(r.session_id, r.media_id) for r in rows} == {(str(first), a), (str(second), b)}
    assert rows[0].storage_key == storage_key(rows[0].sha256)
    assert named(database, "theme.mp3", "image") == []
    assert named(database, "missing.png") == []
    database.close()


def test_a_fork_inherits_the_rows_up_to_its_fork_point(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    parent = sessions.start_session(owner=OWNER, owner_name="O").session_id
    before = store_media(sessions, parent, "before.png")
    fork_point = sessions.get(parent).version
    store_media(sessions, parent, "after.png")
    child = sessions.fork(
        session_id=parent, actor=OWNER, actor_name="O", at_version=fork_point
    ).session_id
    updater.rebuild()
    inherited = [r for r in named(database, "before.png") if r.session_id == str(child)]
    assert [(r.media_id, r.version) for r in inherited] == [(before, 0)]
    assert [r.session_id for r in named(database, "after.png")] == [str(parent)]
    database.close()


def test_a_fork_does_not_inherit_media_its_parent_had_rewound_away(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    parent = sessions.start_session(owner=OWNER, owner_name="O").session_id
    store_media(sessions, parent, "kept.png")
    kept_at = sessions.get(parent).version
    store_media(sessions, parent, "rewound.png")
    sessions.rewind(session_id=parent, actor=OWNER, to_version=kept_at)
    store_media(sessions, parent, "after.png")
    child = sessions.fork(session_id=parent, actor=OWNER, actor_name="O").session_id
    while updater.run_once():
        pass

    def holders(filename: str) -> set[str]:
        return {r.session_id for r in named(database, filename)}

    assert holders("kept.png") == {str(parent), str(child)}
    assert holders("after.png") == {str(parent), str(child)}
    # The parent's members keep it (its timeline does); the fork's history never showed it.
    assert holders("rewound.png") == {str(parent)}
    live = rows(database)
    updater.rebuild()
    assert rows(database) == live
    database.close()


def test_the_live_view_equals_a_rebuild_from_zero(sessions: Sessions, store: StoreConfig) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    for n in range(5):
        store_media(sessions, sid, f"image-{n}.png")
        updater.run_once()
    live = rows(database)
    updater.rebuild()
    assert rows(database) == live
    assert len(live) == 5
    database.close()


class CatchingUpIndex(ViewUpdater):
    """An index whose thread catches up at the moment its position is read: the moment a
    request that missed a row just before would wrongly take the miss as final."""

    @property
    def position(self) -> int:
        while self.run_once():
            pass
        return self._position


def test_a_row_committed_during_a_lookup_is_found_not_missed(
    sessions: Sessions, store: StoreConfig
) -> None:
    settings = settings_for(store)
    database = ViewDatabase(store.database_url, store.data_dir)
    media = Media(
        settings=settings,
        writer=MediaWriter(open_store(settings), sessions),
        index=CatchingUpIndex(sessions, database, MediaIndex()),
        database=database,
        generator=None,
    )
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    media_id = store_media(sessions, sid, "late.png")
    rows = asyncio.run(media.named("late.png", "image", wait_s=0))
    assert [r.media_id for r in rows] == [media_id]
    database.close()


def rows(database: ViewDatabase) -> list[tuple[object, ...]]:
    with database.transaction() as cur:
        cur.execute(f"SELECT * FROM {MEDIA}")  # noqa: S608 - a fixed name
        return sorted(tuple(r) for r in cur.fetchall())


def stored_position(database: ViewDatabase) -> int:
    with database.transaction() as cur:
        return database.position(cur, MediaIndex.name)


def test_turns_move_the_index_without_a_write_until_writes_stop(
    sessions: Sessions, store: StoreConfig
) -> None:
    """Turns change no row of the index: the updater passes them in memory, stores its
    position once writes stop, and a second updater that stored meanwhile is followed."""
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    store_media(sessions, sid, "map.png")
    while updater.run_once():
        pass
    at_media = stored_position(database)
    assert at_media == updater.position > 0
    for n in range(5):
        sessions.submit_turn(session_id=sid, actor=OWNER, text=f"turn {n}")
    while updater.run_once():
        pass
    head = sessions.recorder.max_notification_id()
    assert updater.position == head
    assert stored_position(database) == at_media  # not written for events it does not read

    # A restart here reads the turns again and lands where the live updater stands.
    restarted = ViewUpdater(sessions, database, MediaIndex())
    assert restarted.position == at_media
    while restarted.run_once():
        pass
    assert restarted.position == head

    # The restarted updater stores first (with a new media); the live one follows it.
    store_media(sessions, sid, "tavern.png")
    while restarted.run_once():
        pass
    assert stored_position(database) == restarted.position > head
    updater.store_position()
    assert stored_position(database) == restarted.position  # followed, not overwritten
    while updater.run_once():
        pass
    assert updater.position == restarted.position
    assert [r.filename for r in named(database, "tavern.png")] == ["tavern.png"]

    # Quiet: the position past the last turns is stored.
    sessions.submit_turn(session_id=sid, actor=OWNER, text="last")
    while updater.run_once():
        pass
    assert stored_position(database) < updater.position
    updater.store_position()
    assert stored_position(database) == updater.position == sessions.recorder.max_notification_id()
    database.close()


def test_a_rebuild_ends_with_its_position_stored(sessions: Sessions, store: StoreConfig) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MediaIndex())
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    store_media(sessions, sid, "map.png")
    for n in range(3):
        sessions.submit_turn(session_id=sid, actor=OWNER, text=f"turn {n}")
    assert updater.rebuild() == sessions.recorder.max_notification_id()
    assert stored_position(database) == updater.position
    database.close()
