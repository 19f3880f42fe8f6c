"""The "my sessions" view: kept live from the event log, resumed after a restart, and equal to a
rebuild from zero after a randomized workload."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any
from uuid import UUID

import pytest

from domain.application import Sessions
from domain.errors import GaiaError
from projections.database import ViewDatabase
from projections.my_sessions import MEMBERS, MESSAGES, SESSIONS, MySessions, sessions_of
from projections.session_views import SessionViews
from projections.updater import ViewUpdater
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig


def rows(database: ViewDatabase) -> dict[str, list[tuple[Any, ...]]]:
    with database.transaction() as cur:
        result = {}
        for table in (SESSIONS, MEMBERS, MESSAGES):
            cur.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            result[table] = sorted(tuple(r) for r in cur.fetchall())
        return result


def narrate(sessions: Sessions, sid: UUID, turn_id: UUID) -> int:
    """Store a narration of ``turn_id``; its version."""
    return sessions.complete_narration(
        session_id=sid, turn_id=turn_id, narrative="ok", provider="demo", model="demo", latency_ms=1
    ).version


def catch_up(updater: ViewUpdater) -> None:
    while updater.run_once():
        pass


NARRATION_STEPS = ("narrate", "fail", "retry", "media_failed")


def narration_step(
    sessions: Sessions, sid: UUID, owner: str, action: str, rng: random.Random
) -> None:
    """Narrate or fail the first waiting turn, retry any turn (refused unless it may be), or
    record that a turn's image could not be generated."""
    session = sessions.get(sid)
    waiting = session.pending_turns()
    if action == "narrate" and waiting:
        narrate(sessions, sid, UUID(waiting[0]))
    elif action == "fail" and waiting:
        sessions.fail_narration(
            session_id=sid,
            turn_id=UUID(waiting[0]),
            error_kind="timeout",
            message="the narrator took too long",
            attempts=1,
        )
    elif action == "media_failed" and session.turns:
        sessions.fail_media_generation(
            session_id=sid,
            turn_id=UUID(rng.choice(list(session.turns))),
            kind="image",
            error_kind="timeout",
            message="the image provider took too long",
        )
    elif action == "retry" and session.turns:
        turn_id = UUID(rng.choice(list(session.turns)))
        sessions.request_narration(session_id=sid, actor=owner, turn_id=turn_id)


def random_workload(sessions: Sessions, rng: random.Random, steps: int) -> None:
    users = [f"user-{n}" for n in range(8)]
    ids: list[tuple[UUID, str]] = []
    for _ in range(steps):
        action = rng.choice(
            [
                "create",
                "join",
                "join",
                "turn",
                "turn",
                "narrate",
                "rename",
                "remove",
                "role",
                "rewind",
                "fail",
                "retry",
                "media_failed",
                "fork",
            ]
        )
        try:
            if action == "create" or not ids:
                owner = rng.choice(users)
                ids.append(
                    (
                        sessions.start_session(owner=owner, owner_name=owner.upper()).session_id,
                        owner,
                    )
                )
                continue
            sid, owner = rng.choice(ids)
            session = sessions.get(sid)
            member = rng.choice(list(session.members))
            if action == "join":
                token = sessions.issue_invite(
                    session_id=sid, actor=owner, role=rng.choice(["player", "spectator"])
                ).token
                sessions.accept_invite(token=token, user_id=rng.choice(users), display_name="X")
            elif action == "turn":
                sessions.submit_turn(session_id=sid, actor=member, text=f"turn {rng.random()}")
            elif action in NARRATION_STEPS:
                narration_step(sessions, sid, owner, action, rng)
            elif action == "fork":
                fork_point = rng.randint(1, session.version)
                forked = sessions.fork(
                    session_id=sid, actor=owner, actor_name=owner.upper(), at_version=fork_point
                )
                ids.append((forked.session_id, owner))
            elif action == "rename":
                sessions.rename(session_id=sid, actor=owner, title=f"Title {rng.randint(0, 99)}")
            elif action == "remove" and member != owner:
                sessions.remove_member(
                    session_id=sid, actor=owner, user_id=member, block=rng.random() < 0.3
                )
            elif action == "role" and member != owner:
                sessions.change_role(
                    session_id=sid,
                    actor=owner,
                    user_id=member,
                    role=rng.choice(["player", "spectator"]),
                )
            elif action == "rewind" and session.version > 2:
                # Any version: the session refuses those where a turn waits or that are hidden.
                target = rng.choice(
                    [session.latest_quiet_version() - 1 or 1, rng.randint(1, session.version)]
                )
                sessions.rewind(session_id=sid, actor=owner, to_version=target)
        except GaiaError:
            pass  # a refused command is part of a realistic workload


def assert_counters_match_rows(database: ViewDatabase) -> None:
    """The incrementally kept counters equal a count of the message rows."""
    with database.transaction() as cur:
        cur.execute(
            f"SELECT s.session_id, s.message_count, s.pending_turns, count(m.ref),"  # noqa: S608
            f" coalesce(sum(m.pending), 0) FROM {SESSIONS} s LEFT JOIN {MESSAGES} m"
            " ON m.session_id = s.session_id GROUP BY s.session_id, s.message_count,"
            " s.pending_turns"
        )
        for sid, kept, pending, counted, counted_pending in cur.fetchall():
            assert (kept, pending) == (counted, int(counted_pending)), sid


def assert_counts_match_history(sessions: Sessions, database: ViewDatabase) -> None:
    """Each session's message count is the length of the history its members read."""
    views = SessionViews(sessions)
    with database.transaction() as cur:
        cur.execute(f"SELECT session_id, message_count FROM {SESSIONS}")  # noqa: S608
        counted = dict(cur.fetchall())
    shown = {sid: len(views.get(UUID(sid)).visible_messages()) for sid in counted}
    assert counted == shown


def test_a_rewind_past_a_retry_keeps_the_first_reply_counted(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions())
    sid = sessions.start_session(owner="ann", owner_name="Ann").session_id
    turn_id = sessions.submit_turn(session_id=sid, actor="ann", text="I knock").turn_id
    first_reply = narrate(sessions, sid, turn_id)
    sessions.request_narration(session_id=sid, actor="ann", turn_id=turn_id)
    narrate(sessions, sid, turn_id)
    sessions.rewind(session_id=sid, actor="ann", to_version=first_reply)
    catch_up(updater)
    with database.transaction() as cur:
        [entry] = sessions_of(cur, "ann")
    assert entry["message_count"] == 2  # the turn and its first reply, as history shows
    assert_counts_match_history(sessions, database)
    database.close()


def test_a_forks_own_notes_are_counted_beside_the_ones_it_inherited(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    """A media failure is a note without an id of its own; the fork's first one comes at the
    same version number as the parent's it inherited, and both count."""
    sessions = make_sessions()
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions())

    def play(sid: UUID) -> int:
        turn_id = sessions.submit_turn(session_id=sid, actor="ann", text="I look").turn_id
        narrate(sessions, sid, turn_id)
        return sessions.fail_media_generation(
            session_id=sid, turn_id=turn_id, kind="image", error_kind="timeout", message="slow"
        ).version

    parent = sessions.start_session(owner="ann", owner_name="Ann").session_id
    noted = play(parent)
    child = sessions.fork(session_id=parent, actor="ann", actor_name="Ann", at_version=noted)
    assert play(child.session_id) == noted  # the same version number in the fork's stream
    catch_up(updater)
    assert_counts_match_history(sessions, database)
    database.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_message_counts_equal_the_history_after_retries_rewinds_and_forks(
    make_sessions: SessionsFactory, store: StoreConfig, seed: int
) -> None:
    sessions = make_sessions()
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions())
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    random_workload(sessions, rng, steps=300)
    catch_up(updater)
    assert_counts_match_history(sessions, database)
    database.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_rebuild_from_zero_equals_the_live_view_after_a_random_workload(
    make_sessions: SessionsFactory, store: StoreConfig, seed: int
) -> None:
    sessions = make_sessions()
    database = ViewDatabase(store.database_url, store.data_dir)
    live = ViewUpdater(sessions, database, MySessions(), poll_interval_s=0.05)
    live.start()
    try:
        rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        random_workload(sessions, rng, steps=300)
        assert live.wait_for(sessions.max_position(), timeout=30)
    finally:
        live.stop()
    before = rows(database)
    assert before[SESSIONS], "the workload created no session"
    assert_counters_match_rows(database)
    rebuilt = ViewUpdater(sessions, database, MySessions())
    assert rebuilt.rebuild() == sessions.max_position()
    assert rows(database) == before
    database.close()


class OneByOne:
    """``MySessions`` without its batch fold: every event applied on its own, with SQL."""

    name = MySessions.name

    def __init__(self) -> None:
        self._view = MySessions()

    def create_tables(self, cur: Any) -> None:
        self._view.create_tables(cur)

    def clear(self, cur: Any) -> None:
        self._view.clear(cur)

    def apply(self, cur: Any, event: Any) -> None:
        self._view.apply(cur, event)


@pytest.mark.parametrize("seed", [3, 4])
def test_folding_a_batch_at_once_leaves_the_rows_of_applying_it_event_by_event(
    make_sessions: SessionsFactory, store: StoreConfig, seed: int
) -> None:
    sessions = make_sessions()
    database = ViewDatabase(store.database_url, store.data_dir)
    random_workload(sessions, random.Random(seed), steps=300)  # noqa: S311 - reproducible
    one_by_one = ViewUpdater(sessions, database, OneByOne())
    assert one_by_one.rebuild() == sessions.max_position()
    expected = rows(database)
    for batch_size in (7, 500):
        batched = ViewUpdater(sessions, database, MySessions(), batch_size=batch_size)
        assert batched.rebuild() == sessions.max_position()
        assert rows(database) == expected
    database.close()


def test_the_view_resumes_from_its_checkpoint_after_a_restart(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    first_db = ViewDatabase(store.database_url, store.data_dir)
    first = ViewUpdater(sessions, first_db, MySessions())
    sid = sessions.start_session(owner="ann", owner_name="Ann").session_id
    catch_up(first)
    checkpoint = first.position
    first_db.close()

    sessions.rename(session_id=sid, actor="ann", title="After the restart")
    second_db = ViewDatabase(store.database_url, store.data_dir)
    second = ViewUpdater(sessions, second_db, MySessions())
    assert second.position == checkpoint
    assert second.run_once() == 1
    with second_db.transaction() as cur:
        [entry] = sessions_of(cur, "ann")
    assert entry["title"] == "After the restart"
    second_db.close()


def test_instances_creating_the_view_tables_at_once_all_succeed(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            database = ViewDatabase(store.database_url, store.data_dir)
            ViewUpdater(sessions, database, MySessions())
            database.close()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


class CountingUpdater(ViewUpdater):
    """The updater, counting its reads of the log that found something to apply."""

    reads = 0

    def run_once(self) -> int:
        applied = super().run_once()
        self.reads += 1 if applied else 0
        return applied


def test_writes_in_quick_succession_are_applied_together(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = CountingUpdater(sessions, database, MySessions(), settle_s=0.5)
    sessions.on_saved.append(lambda _sid, _version, position: updater.wake(position))
    updater.start()
    try:
        sid = sessions.start_session(owner="ann", owner_name="Ann").session_id
        for n in range(20):
            sessions.rename(session_id=sid, actor="ann", title=f"t{n}")
        assert updater.wait_for(sessions.max_position(), timeout=10)
        assert updater.reads < 10  # one read per write would be 21
        with database.transaction() as cur:
            [entry] = sessions_of(cur, "ann")
        assert entry["title"] == "t19"
    finally:
        updater.stop()
        database.close()


def test_a_request_waiting_for_a_position_cuts_the_gathering_short(
    sessions: Sessions, store: StoreConfig
) -> None:
    database = ViewDatabase(store.database_url, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions(), settle_s=30.0)
    sessions.on_saved.append(lambda _sid, _version, position: updater.wake(position))
    updater.start()
    try:
        sid = sessions.start_session(owner="ann", owner_name="Ann").session_id
        assert updater.wait_for(sessions.max_position(), timeout=10)
        # The next write comes right after a read: the updater would gather for 30 s...
        sessions.rename(session_id=sid, actor="ann", title="at once")
        started = time.monotonic()

        async def wait() -> bool:
            return await updater.wait_until(sessions.max_position(), timeout=10)

        assert asyncio.run(wait())
        assert time.monotonic() - started < 5  # ...but a waiter is answered at once
    finally:
        updater.stop()
        database.close()


def test_sqlite_view_commits_do_not_wait_for_the_disk(sqlite_store: StoreConfig) -> None:
    database = ViewDatabase(None, sqlite_store.data_dir)
    with database.transaction() as cur:
        cur.execute("PRAGMA synchronous")
        assert cur.fetchone()[0] == 1  # NORMAL: a WAL commit is not flushed; FULL would be 2
    database.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_view_commits_a_machine_crash_takes_back_are_applied_again_on_restart(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    sessions = make_sessions()
    database = ViewDatabase(None, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions())
    sid = sessions.start_session(owner="ann", owner_name="Ann").session_id
    catch_up(updater)
    flushed_at = updater.position
    database.close()
    flushed = {path.name: path.read_bytes() for path in store.data_dir.glob("views.sqlite3*")}
    assert "views.sqlite3" in flushed

    database = ViewDatabase(None, store.data_dir)
    updater = ViewUpdater(sessions, database, MySessions())
    sessions.rename(session_id=sid, actor="ann", title="Renamed")
    sessions.start_session(owner="ann", owner_name="Ann")
    catch_up(updater)
    before_the_crash = rows(database)
    database.close()
    # The machine stops: the commits after the last flush are gone, every one of them whole.
    for path in store.data_dir.glob("views.sqlite3*"):
        path.unlink()
    for name, content in flushed.items():
        (store.data_dir / name).write_bytes(content)

    database = ViewDatabase(None, store.data_dir)
    restarted = ViewUpdater(sessions, database, MySessions())
    assert restarted.position == flushed_at
    catch_up(restarted)
    assert rows(database) == before_the_crash
    database.close()
