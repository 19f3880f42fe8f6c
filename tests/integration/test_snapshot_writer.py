"""Snapshots are stored off the write path (``domain/application/snapshots.py``): each one
taken is stored, in order, also when the application closes right after the write that took
it; one stored already is dropped quietly; and a session loads from them as it replays."""

from __future__ import annotations

from domain.application.snapshots import SnapshotWriter
from domain.session import CampaignSession
from tests.integration.conftest import SessionsFactory

OWNER = "owner-1"


def test_every_snapshot_taken_is_stored_even_when_the_application_closes_at_once(
    make_sessions: SessionsFactory,
) -> None:
    writer = make_sessions(snapshot_interval=5)
    sid = writer.start_session(owner=OWNER, owner_name="O").session_id
    for n in range(14):
        writer.submit_turn(session_id=sid, actor=OWNER, text=f"turn {n}")
    writer.close()  # no wait for the snapshots: closing stores what waits

    reader = make_sessions(snapshot_interval=5)
    assert reader.snapshots is not None
    assert [s.originator_version for s in reader.snapshots.get(sid)] == [5, 10, 15]
    replayed: CampaignSession | None = None
    for event in reader.events.get(sid):
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert vars(reader.get(sid)) == vars(replayed)


def test_a_snapshot_stored_already_is_dropped_without_an_error(
    make_sessions: SessionsFactory,
) -> None:
    sessions = make_sessions(snapshot_interval=0)
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    assert sessions.snapshots is not None
    snapshot = sessions.mapper.to_stored_event(CampaignSession.Snapshot.take(sessions.get(sid)))
    writer = SnapshotWriter(sessions.snapshots.recorder)
    writer.put(snapshot)
    writer.put(snapshot)  # the same version again: the store refuses it, quietly
    writer.wait(timeout=10)
    writer.close()
    assert [s.originator_version for s in sessions.snapshots.get(sid)] == [1]


def test_snapshots_grow_further_apart_as_the_session_grows(make_sessions: SessionsFactory) -> None:
    """Interval 2: every 2 versions up to 39, then about a twentieth of the session apart (a
    snapshot of a long session costs more to write), and a load from them equals a replay."""
    sessions = make_sessions(snapshot_interval=2)
    sid = sessions.start_session(owner=OWNER, owner_name="O").session_id
    for n in range(129):  # one event a save, up to version 130
        sessions.submit_turn(session_id=sid, actor=OWNER, text=f"turn {n}")
        # Each stored before the next save: the writer drops what a busy machine leaves
        # queued past its bound, and which versions are taken is what this test is about.
        sessions.wait_for_snapshots()
    assert sessions.snapshots is not None
    versions = [s.originator_version for s in sessions.snapshots.get(sid)]
    assert versions == [
        *range(2, 40, 2),  # step 2 below 40 (2 intervals x 20)
        *range(40, 80, 2),  # 40..79: step 2 x (v // 40) = 2
        *range(80, 120, 4),  # 80..119: step 4
        120,  # 120..130: step 6, crossed once
        126,
    ]
    fresh = make_sessions(snapshot_interval=2)
    replayed: CampaignSession | None = None
    for event in fresh.events.get(sid):
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert vars(fresh.get(sid)) == vars(replayed)
