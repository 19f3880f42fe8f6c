"""Live streams resume exactly: replay after the cursor, then live, each version once, in order,
however clients drop and reconnect while a writer appends (both stores, real uvicorn)."""

from __future__ import annotations

import asyncio
import random
from uuid import UUID

import httpx
import pytest

from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service
from tests.support.sse import async_client, events_path, messages, stream

EVENTS = 500  # SessionStarted and 499 renames
CLIENTS = 20


async def _follow(
    service: Service,
    client: httpx.AsyncClient,
    session_id: str,
    rng: random.Random,
    start: asyncio.Event,
) -> list[int]:
    """Connect, take a random number of events, drop, reconnect from the last id; until the end."""
    await start.wait()
    received: list[int] = []
    headers = service.headers(OWNER)
    while not received or received[-1] < EVENTS:
        path = events_path(session_id)
        extra: dict[str, str] = {}
        if received:
            if rng.random() < 0.3:  # a new EventSource resumes with ?after=
                path = events_path(session_id, after=received[-1])
            else:  # a reconnecting one sends Last-Event-ID to its first URL
                path = events_path(session_id, after=0)
                extra = {"Last-Event-ID": str(received[-1])}
        take = rng.randint(1, 100)
        async with stream(client, path, headers=headers | extra) as response:
            assert response.status_code == 200, response.text
            async for message in messages(response):
                if message.id is None:
                    continue
                received.append(message.version)
                take -= 1
                if take == 0 or received[-1] == EVENTS:
                    break  # drop the connection mid-stream
    return received


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test randomness, not a secret


async def _write_and_follow(service: Service, session_id: str) -> list[list[int]]:
    loop = asyncio.get_running_loop()
    # Client n connects once the writer has appended n * 20 events: at different moments of
    # the replay and of the live part.
    starts = [asyncio.Event() for _ in range(CLIENTS)]

    def write() -> None:
        sessions = service.state.sessions
        for n in range(2, EVENTS + 1):
            sessions.rename(session_id=UUID(session_id), actor=OWNER, title=f"title {n}")
            for index, start in enumerate(starts):
                if n == 2 + index * 20:
                    loop.call_soon_threadsafe(start.set)

    async with async_client(service.base_url) as client:
        followers = [
            asyncio.create_task(_follow(service, client, session_id, _rng(n), start))
            for n, start in enumerate(starts)
        ]
        await asyncio.to_thread(write)
        return await asyncio.wait_for(asyncio.gather(*followers), timeout=60)


@pytest.mark.slow
def test_every_client_ends_with_each_version_once_in_order_despite_drops(
    service: Service,
) -> None:
    created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Resume"})
    session_id = created.json()["session_id"]
    received = asyncio.run(_write_and_follow(service, session_id))
    for versions in received:
        assert versions == list(range(1, EVENTS + 1))


async def _first_version(service: Service, path: str, headers: dict[str, str]) -> int | None:
    async with (
        async_client(service.base_url) as client,
        stream(client, path, headers=service.headers(PLAYER) | headers) as response,
    ):
        assert response.status_code == 200, response.text
        async for message in messages(response):
            if message.id is not None:
                return message.version
    return None


def test_last_event_id_wins_over_the_after_of_the_url(service: Service, table: Table) -> None:
    path = events_path(table.session_id, after=1)
    first = asyncio.run(_first_version(service, path, {"Last-Event-ID": "3"}))
    assert first == 4


def test_after_resumes_a_stream_opened_without_last_event_id(
    service: Service, table: Table
) -> None:
    first = asyncio.run(_first_version(service, events_path(table.session_id, after=2), {}))
    assert first == 3


def test_a_cursor_past_the_end_is_refused_with_409_before_the_stream_starts(
    service: Service, table: Table
) -> None:
    version = service.version(table.session_id)
    path = events_path(table.session_id)
    by_query = service.call("GET", f"{path}?after={version + 1}", PLAYER)
    by_header = service.call("GET", path, PLAYER, headers={"Last-Event-ID": str(version + 5)})
    for answer in (by_query, by_header):
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"]["code"] == "cursor_ahead"
        assert answer.json()["error"]["details"]["version"] == version


def test_a_last_event_id_that_is_not_a_version_is_refused(service: Service, table: Table) -> None:
    path = events_path(table.session_id)
    answer = service.call("GET", path, PLAYER, headers={"Last-Event-ID": "abc"})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_cursor"
