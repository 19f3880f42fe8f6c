"""The Sessions application against real stores: the same test bodies on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.application import Sessions
from domain.errors import StoreUnavailable
from domain.session import CampaignSession
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig

OWNER = "owner-1"


def new_session(sessions: Sessions) -> tuple[Sessions, object]:
    return sessions, sessions.start_session(
        owner=OWNER, owner_name="Gm", title="Salt Road"
    ).session_id


@pytest.mark.slow
def test_eight_threads_appending_one_hundred_turns_each_lose_nothing(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    # On PostgreSQL two applications stand for two processes sharing the store. The SQLite
    # file is the embedded, single-process store: one application there.
    apps = [make_sessions(), make_sessions()] if store.database_url else [make_sessions()]
    session_id = apps[0].start_session(owner=OWNER, owner_name="Gm").session_id
    errors: list[BaseException] = []

    def writer(app: Sessions, worker: int) -> None:
        try:
            for n in range(100):
                app.submit_turn(session_id=session_id, actor=OWNER, text=f"w{worker} t{n}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(apps[i % len(apps)], i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    events = list(apps[0].events.get(session_id))
    turns = [e for e in events if isinstance(e, CampaignSession.TurnSubmitted)]
    assert len(turns) == 800
    assert sorted(t.text for t in turns) == sorted(
        f"w{w} t{n}" for w in range(8) for n in range(100)
    )
    assert [e.originator_version for e in events] == list(range(1, 802))


def test_a_session_rebuilt_from_a_snapshot_equals_a_replay_from_version_one(
    make_sessions: SessionsFactory,
) -> None:
    app = make_sessions(snapshot_interval=10)
    session_id = app.start_session(owner=OWNER, owner_name="Gm").session_id
    invite = app.issue_invite(session_id=session_id, actor=OWNER, max_uses=3)
    app.accept_invite(token=invite.token, user_id="p1", display_name="Ada")
    for n in range(30):
        turn = app.submit_turn(
            session_id=session_id, actor="p1", text=f"t{n}", idempotency_key=f"k{n}"
        )
        if n % 3:
            app.complete_narration(
                session_id=session_id,
                turn_id=turn.turn_id,
                narrative="ok",
                provider="demo",
                model="demo",
                latency_ms=1,
            )
        else:
            app.fail_narration(
                session_id=session_id,
                turn_id=turn.turn_id,
                error_kind="timeout",
                message="slow",
                attempts=3,
            )
    app.rewind(session_id=session_id, actor=OWNER, to_version=21)  # a settled turn
    app.remove_member(session_id=session_id, actor=OWNER, user_id="p1", block=True)

    assert app.snapshots is not None
    app.wait_for_snapshots(timeout=10)  # stored off the write path
    snapshots = list(app.snapshots.get(session_id))
    assert snapshots, "no snapshot was taken"

    cold = make_sessions(snapshot_interval=10)  # a new process, empty cache
    from_snapshot = cold.get(session_id)
    replayed = CampaignSession.Snapshot  # noqa: F841 - the class under test, for readers
    from_events: CampaignSession | None = None
    for domain_event in cold.events.get(session_id):
        from_events = domain_event.mutate(from_events)
    assert from_events is not None
    assert vars(from_snapshot) == vars(from_events)


def test_an_old_turn_submitted_shape_is_read_through_its_upcaster(sessions: Sessions) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    turn_id = uuid4()
    v1_state = {
        "originator_id": {"_type_": "uuid_hex", "_data_": session_id.hex},
        "originator_version": 2,
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-11-02T18:02:11.402113+00:00"},
        "turn_id": {"_type_": "uuid_hex", "_data_": turn_id.hex},
        "text": "I light the lantern",
        "kind": "action",
        "character_id": "pc:kara",
        "character_name": "Kara",
        "idempotency_key": None,
        "actor": OWNER,
        "occurred_at": None,
    }
    sessions.recorder.insert_events(
        [
            StoredEvent(
                originator_id=session_id,
                originator_version=2,
                topic="gaia.TurnSubmitted",
                state=json.dumps(v1_state).encode(),
            )
        ]
    )
    event = next(iter(sessions.events.get(session_id, gt=1)))
    assert isinstance(event, CampaignSession.TurnSubmitted)
    assert event.character == {"id": "pc:kara", "name": "Kara"}
    assert event.held is False
    assert sessions.get(session_id).pending_turns() == [str(turn_id)]


def test_a_repeated_turn_answers_with_the_first_version_and_position(sessions: Sessions) -> None:
    session_id = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    first = sessions.submit_turn(session_id=session_id, actor=OWNER, text="go", idempotency_key="a")
    sessions.rename(session_id=session_id, actor=OWNER, title="Later")
    again = sessions.submit_turn(session_id=session_id, actor=OWNER, text="go", idempotency_key="a")
    assert (again.turn_id, again.version, again.position) == (
        first.turn_id,
        first.version,
        first.position,
    )
    assert again.repeated
    assert not first.repeated
    assert sessions.get(session_id).version == 3


def test_writes_return_increasing_global_positions(sessions: Sessions) -> None:
    a = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    b = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    positions = [
        sessions.submit_turn(session_id=sid, actor=OWNER, text="x").position for sid in (a, b, a, b)
    ]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert sessions.max_position() == positions[-1]


def test_twenty_users_racing_for_five_uses_of_one_invite_let_exactly_five_join(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    apps = [make_sessions(), make_sessions()] if store.database_url else [make_sessions()]
    session_id = apps[0].start_session(owner=OWNER, owner_name="Gm").session_id
    token = apps[0].issue_invite(session_id=session_id, actor=OWNER, max_uses=5).token
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def accept(n: int) -> None:
        barrier.wait()
        try:
            apps[n % len(apps)].accept_invite(token=token, user_id=f"u{n}", display_name=f"U{n}")
            outcomes.append("joined")
        except Exception as error:  # noqa: BLE001 - counted below
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("joined") == 5
    assert outcomes.count("InviteInvalid") == 15
    assert len(apps[-1].get(session_id).members) == 6


def test_a_fork_starts_a_new_session_owned_by_the_caller(sessions: Sessions) -> None:
    parent = sessions.start_session(owner=OWNER, owner_name="Gm", settings={"tone": "grim"})
    token = sessions.issue_invite(session_id=parent.session_id, actor=OWNER).token
    sessions.accept_invite(token=token, user_id="p1", display_name="Ada")
    fork = sessions.fork(session_id=parent.session_id, actor="p1", actor_name="Ada")
    child = sessions.get(fork.session_id)
    assert child.owner == "p1"
    assert child.origin == {"kind": "fork", "parent_id": str(parent.session_id), "at_version": 3}
    assert child.settings == {"tone": "grim"}
    assert sessions.get(parent.session_id).version == 3


def test_an_unreachable_database_fails_a_call_within_seconds(tmp_path: Path) -> None:
    env = store_env("postgresql://postgres@127.0.0.1:9/gaia", tmp_path, name="gaia")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        open_sessions(env)
    # A guard against hanging for minutes (the library's default), not a speed goal.
    assert time.monotonic() - started < 15


def test_more_concurrent_writers_than_pooled_connections_all_succeed(sessions: Sessions) -> None:
    # Each write holds a lock connection while it saves on another: with one shared pool, 40
    # writers could each hold one and wait forever for a second.
    session_ids = [
        sessions.start_session(owner=OWNER, owner_name="Gm").session_id for _ in range(40)
    ]
    errors: list[BaseException] = []

    def writer(session_id: UUID) -> None:
        try:
            for n in range(10):
                sessions.submit_turn(session_id=session_id, actor=OWNER, text=f"t{n}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(sid,)) for sid in session_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(sessions.get(sid).version == 11 for sid in session_ids)


def test_instances_starting_at_once_on_an_empty_database_all_start(
    postgres_store: StoreConfig,
) -> None:
    env = store_env(postgres_store.database_url, postgres_store.data_dir, name="gaia")
    started: list[Sessions] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            started.append(open_sessions(env))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for app in started:
        app.close()
    assert errors == []
    assert len(started) == 6
