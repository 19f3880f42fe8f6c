"""Storing a narration tells the turn worker which turns still wait, so it reads the session
once per drain rather than once per narrated turn; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from api.locks import NarrationLocks
from api.narration.demo import DemoNarrator
from api.worker import TurnWorker
from domain.application import Sessions
from projections.session_views import SessionViews
from tests.integration.conftest import SessionsFactory
from tests.support.stores import StoreConfig

OWNER = "owner-1"


def test_a_stored_narration_names_the_turns_still_waiting_even_those_of_another_process(
    make_sessions: SessionsFactory, store: StoreConfig
) -> None:
    app = make_sessions()
    other = make_sessions() if store.database_url else app
    session_id = app.start_session(owner=OWNER, owner_name="Gm").session_id
    first = app.submit_turn(session_id=session_id, actor=OWNER, text="one")
    second = other.submit_turn(session_id=session_id, actor=OWNER, text="two")
    stored = app.complete_narration(
        session_id=session_id,
        turn_id=first.turn_id,
        narrative="ok",
        provider="demo",
        model="demo-1",
        latency_ms=1,
    )
    assert stored.waiting == (str(second.turn_id),)
    assert stored.version == 4
    failed = app.fail_narration(
        session_id=session_id,
        turn_id=second.turn_id,
        error_kind="timeout",
        message="slow",
        attempts=1,
    )
    assert failed.waiting == ()
    assert app.read(session_id, lambda s: s.pending_turns()) == []


class CountingReads:
    """The Sessions application, counting the reads the worker makes of it."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self.reads = 0

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return self._sessions.read(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sessions, name)


def test_the_worker_narrates_every_waiting_turn_in_order_reading_the_session_once(
    sessions: Sessions, store: StoreConfig
) -> None:
    session_id: UUID = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
    turns = [
        str(sessions.submit_turn(session_id=session_id, actor=OWNER, text=f"t{n}").turn_id)
        for n in range(5)
    ]
    counting = CountingReads(sessions)
    locks = NarrationLocks(store.database_url)

    async def drain() -> None:
        worker = TurnWorker(
            counting,  # type: ignore[arg-type]
            SessionViews(sessions),
            DemoNarrator(),
            locks,
            pending_sessions=list,
        )
        await worker.start()
        try:
            worker.schedule(session_id)
            await asyncio.sleep(0)
            await worker.idle()
        finally:
            await worker.stop()

    try:
        asyncio.run(drain())
    finally:
        locks.close()
    assert counting.reads == 1  # the first look; each stored narration names the next turn
    assert sessions.read(session_id, lambda s: s.pending_turns()) == []
    history = SessionViews(sessions).get(session_id).visible_messages()
    narrator_turns = [m["turn_id"] for m in history if m["role"] == "narrator"]
    assert narrator_turns == turns
