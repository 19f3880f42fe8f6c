"""Live streams across processes: another instance's writes arrive through PostgreSQL LISTEN,
a lost notification only delays them, and SIGTERM ends every stream with a reconnection hint
(real ``python -m api serve`` processes)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest

from api.live.tail import LISTEN_APPLICATION_NAME
from domain.adapters.config import store_env as library_env
from domain.adapters.event_store import open_sessions
from tests.e2e.conftest import OWNER
from tests.support.api import free_port, running
from tests.support.live_server import SECRET, Server, bearer, serve, start, store_env
from tests.support.sse import Message, async_client, events_path, messages, stream
from tests.support.stores import StoreConfig

STREAMS_AT_SHUTDOWN = 100
GRACEFUL_EXIT_S = 8.0  # Cloud Run kills 10 s after SIGTERM; uvicorn is given 8 s


def _new_session(server: Server) -> str:
    created = httpx.post(
        f"{server.base_url}/api/campaigns/new", json={"title": "Two inns"}, headers=bearer(OWNER)
    )
    assert created.status_code == 201, created.text
    return str(created.json()["session_id"])


async def _next_event(
    base_url: str, session_id: str, after: int, act: Callable[[], None]
) -> Message:
    """Open a stream after ``after``, run ``act`` (a blocking callable), return the next event."""
    async with (
        async_client(base_url) as client,
        stream(client, events_path(session_id, after=after), headers=bearer(OWNER)) as response,
    ):
        assert response.status_code == 200, response.text
        await asyncio.to_thread(act)
        async for message in messages(response):
            if message.id is not None:
                return message
    raise AssertionError("the stream ended")


def test_a_client_on_one_instance_sees_a_turn_written_through_another(
    postgres_store: StoreConfig, tmp_path: Path
) -> None:
    # The backup poll is a minute away: only a notification can bring the turn in time.
    env = store_env(postgres_store, GAIA_STREAM_POLL_SECONDS="60")
    # One after the other: this test is about notifications, not about start-ups racing to
    # create the tables of an empty database.
    a = start(env, free_port(), tmp_path / "a.log")
    with ExitStack() as stack:
        stack.enter_context(serve(a))
        b = start(env, free_port(), tmp_path / "b.log")
        stack.enter_context(serve(b))
        sid = _new_session(a)

        def submit_through_a() -> None:
            answer = httpx.post(
                f"{a.base_url}/api/sessions/{sid}/turns",
                json={"text": "I knock twice"},
                headers=bearer(OWNER),
            )
            assert answer.status_code == 202, answer.text

        # Generous bound on the wait: a notification takes milliseconds, the poll a minute.
        message = asyncio.run(
            asyncio.wait_for(_next_event(b.base_url, sid, 1, submit_through_a), timeout=5)
        )
    assert (message.version, message.event) == (2, "TurnSubmitted")
    assert message.json()["data"]["text"] == "I knock twice"


def test_a_lost_notification_only_delays_the_event(postgres_store: StoreConfig) -> None:
    writer = open_sessions(
        library_env(postgres_store.database_url, postgres_store.data_dir, name="gaia")
    )
    try:
        created = writer.start_session(owner=OWNER, owner_name=OWNER, title="Lost letters")
        sid = str(created.session_id)
        with running(postgres_store, stream_poll_seconds=0.3, jwt_secret=SECRET) as service:
            live = service.state.live
            assert live is not None

            def lose_the_notification_and_write() -> None:
                # Cut the instance's LISTEN connection, then write from elsewhere: the NOTIFY
                # of this write reaches nobody.
                assert postgres_store.database_url is not None
                with psycopg.connect(postgres_store.database_url, autocommit=True) as conn:
                    cut = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s AND datname = current_database()",
                        (LISTEN_APPLICATION_NAME,),
                    ).fetchall()
                assert cut == [(True,)]
                writer.rename(session_id=UUID(sid), actor=OWNER, title="Found letters")

            message = asyncio.run(
                asyncio.wait_for(
                    _next_event(service.base_url, sid, 1, lose_the_notification_and_write),
                    timeout=10,
                )
            )
    finally:
        writer.close()
    assert (message.version, message.event) == (2, "SessionRenamed")


async def _streams_through_shutdown(server: Server, session_id: str) -> list[list[Message]]:
    replayed = asyncio.Semaphore(0)

    async def watch(client: httpx.AsyncClient) -> list[Message]:
        seen: list[Message] = []
        async with stream(client, events_path(session_id), headers=bearer(OWNER)) as response:
            assert response.status_code == 200, response.text
            async for message in messages(response):
                seen.append(message)
                if message.id == "1":
                    replayed.release()
        return seen

    async with async_client(server.base_url) as client:
        watchers = [asyncio.create_task(watch(client)) for _ in range(STREAMS_AT_SHUTDOWN)]
        for _ in watchers:
            await asyncio.wait_for(replayed.acquire(), timeout=30)
        exited_in = await asyncio.to_thread(server.terminate, GRACEFUL_EXIT_S)
        assert exited_in < GRACEFUL_EXIT_S
        return await asyncio.wait_for(asyncio.gather(*watchers), timeout=5)


@pytest.mark.slow
def test_sigterm_ends_every_stream_with_a_retry_hint_and_exits_within_8_s(
    store: StoreConfig, tmp_path: Path
) -> None:
    server = start(store_env(store), free_port(), tmp_path / "server.log")
    with serve(server):
        sid = _new_session(server)
        streams = asyncio.run(_streams_through_shutdown(server, sid))
        assert server.process.returncode in (0, -signal.SIGTERM), server.log.read_text()
    assert len(streams) == STREAMS_AT_SHUTDOWN
    for seen in streams:
        assert [m.version for m in seen if m.id is not None] == [1]
        assert seen[-1].retry is not None
        assert seen[-1].retry > 0
