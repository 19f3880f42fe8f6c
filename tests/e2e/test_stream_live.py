"""While a stream is open: narration deltas, heartbeats, and a removed member's streams closing
(both stores, real uvicorn; the narrator is the fake OpenAI-compatible server on loopback)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import Settings
from projections.timeline import EVENT_TOPICS
from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service, running
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.sse import Message, async_client, events_path, messages, stream
from tests.support.stores import StoreConfig

NARRATIVE = "The lantern gutters. Something wet drags itself across the flagstones below."
REPLY = json.dumps({"narrative": NARRATIVE, "player_options": ["Wait", "Run"], "answer": ""})
REPLY_PIECES = [REPLY[i : i + 7] for i in range(0, len(REPLY), 7)]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def narrated_service(store: StoreConfig, fake_llm: FakeLLM) -> Iterator[Service]:
    with running(store, llm_base_url=fake_llm.base_url, llm_max_attempts=1) as service:
        yield service


def _new_session(service: Service, title: str = "Crypt") -> str:
    created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": title})
    assert created.status_code == 201, created.text
    return str(created.json()["session_id"])


def _submit(service: Service, session_id: str) -> str:
    turn = service.call(
        "POST", f"/api/sessions/{session_id}/turns", OWNER, json={"text": "I listen"}
    )
    assert turn.status_code == 202, turn.text
    return str(turn.json()["turn_id"])


def test_deltas_preview_a_narration_while_it_streams(
    narrated_service: Service, fake_llm: FakeLLM
) -> None:
    service = narrated_service
    sid = _new_session(service)
    release = threading.Event()
    # Six chunks (past the JSON key, into the narrative), then hold until released.
    fake_llm.queue(Answer(text=REPLY, pieces=REPLY_PIECES, release=release, hold_after=6))

    async def watch() -> tuple[list[Message], list[Message], dict]:
        held: list[Message] = []
        after: list[Message] = []
        async with (
            async_client(service.base_url) as client,
            stream(client, events_path(sid), headers=service.headers(OWNER)) as response,
        ):
            assert response.status_code == 200
            turn_id = await asyncio.to_thread(_submit, service, sid)
            async for message in messages(response):
                if message.event == "narration.delta":
                    (after if release.is_set() else held).append(message)
                    if not release.is_set():
                        release.set()  # one delta arrived while the model still held the rest
                elif message.event == "NarrationCompleted":
                    record = message.json()
                    assert record["data"]["turn_id"] == turn_id
                    return held, after, record
        raise AssertionError("the stream ended before the narration")

    held, after, completed = asyncio.run(asyncio.wait_for(watch(), timeout=30))
    assert held, "no delta arrived before the model finished"
    deltas = held + after
    assert all(d.id is None for d in deltas)
    assert all(set(d.json()) == {"turn_id", "text"} for d in deltas)
    assert {d.json()["turn_id"] for d in deltas} == {completed["data"]["turn_id"]}
    assert "".join(d.json()["text"] for d in deltas) == completed["data"]["narrative"] == NARRATIVE


def test_no_delta_is_built_for_a_session_nobody_watches(narrated_service: Service) -> None:
    service = narrated_service
    watched, unwatched = _new_session(service, "Watched"), _new_session(service, "Unwatched")

    async def narrate_while_watching_the_other_session() -> None:
        async with (
            async_client(service.base_url) as client,
            stream(client, events_path(watched), headers=service.headers(OWNER)) as response,
        ):
            assert response.status_code == 200
            await asyncio.to_thread(_submit, service, unwatched)
            await asyncio.to_thread(service.narrated)

    worker = service.state.worker
    publish = worker.publish_delta
    assert publish is not None
    built: list[tuple[object, ...]] = []
    worker.publish_delta = lambda *delta: (built.append(delta), publish(*delta))
    asyncio.run(narrate_while_watching_the_other_session())
    history = service.call("GET", f"/api/sessions/{unwatched}/history", OWNER).json()
    assert [m["role"] for m in history["messages"]] == ["player", "narrator"]
    assert built == []


def test_an_idle_stream_gets_heartbeat_comments(store: StoreConfig) -> None:
    with running(store, stream_heartbeat_seconds=0.1) as service:
        sid = _new_session(service)

        async def first_heartbeat() -> Message:
            async with (
                async_client(service.base_url) as client,
                stream(client, events_path(sid, after=1), headers=service.headers(OWNER)) as answer,
            ):
                async for message in messages(answer):
                    return message
            raise AssertionError("the stream ended")

        heartbeat = asyncio.run(asyncio.wait_for(first_heartbeat(), timeout=10))
    assert heartbeat.comments == ["keep-alive"]
    assert (heartbeat.id, heartbeat.event, heartbeat.data) == (None, None, None)


@pytest.mark.parametrize("blocked", [False, True], ids=["removed", "blocked"])
def test_a_removed_member_has_every_stream_closed_within_2_s(
    service: Service, table: Table, blocked: bool
) -> None:
    sid = table.session_id
    version = service.version(sid)
    ticket = service.call("POST", f"/api/sessions/{sid}/stream-ticket", PLAYER).json()["ticket"]

    async def removed_while_watching() -> list[float]:
        caught_up = asyncio.Semaphore(0)

        async def watch(path: str, headers: dict[str, str]) -> float:
            async with stream(client, path, headers=headers) as response:
                assert response.status_code == 200
                async for message in messages(response):
                    if message.id is not None and message.version == version:
                        caught_up.release()
            return time.monotonic()

        async with async_client(service.base_url) as client:
            streams = [
                asyncio.create_task(watch(events_path(sid), service.headers(PLAYER))),
                asyncio.create_task(watch(events_path(sid, ticket=ticket), {})),
            ]
            for _ in streams:
                await asyncio.wait_for(caught_up.acquire(), timeout=10)
            path = f"/api/sessions/{sid}/members/{PLAYER}?block={str(blocked).lower()}"
            answer = await asyncio.to_thread(service.call, "DELETE", path, OWNER)
            assert answer.status_code == 204, answer.text
            removed_at = time.monotonic()
            ended = await asyncio.wait_for(asyncio.gather(*streams), timeout=2.0)
        return [at - removed_at for at in ended]

    assert all(seconds < 2.0 for seconds in asyncio.run(removed_while_watching()))
    again = service.call("GET", events_path(sid), PLAYER)
    assert again.status_code == 404


def test_the_openapi_description_names_every_event_the_stream_sends(tmp_path: Path) -> None:
    schema = create_app(Settings(data_dir=tmp_path)).openapi()
    description = schema["paths"]["/api/sessions/{sid}/events"]["get"]["description"]
    for name in [*EVENT_TOPICS, "narration.delta"]:
        assert f"`{name}`" in description


def test_the_readme_names_every_event_the_stream_sends() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Live streams", 1)[1].split("\n## ", 1)[0]
    for name in [*EVENT_TOPICS, "narration.delta"]:
        assert f"`{name}`" in section


def test_a_stream_ends_itself_with_a_retry_hint_after_its_longest_life(store: StoreConfig) -> None:
    with running(store, stream_max_seconds=0.3) as service:
        sid = _new_session(service)

        async def until_the_end() -> list[Message]:
            async with (
                async_client(service.base_url) as client,
                stream(client, events_path(sid), headers=service.headers(OWNER)) as answer,
            ):
                return [message async for message in messages(answer)]

        seen = asyncio.run(asyncio.wait_for(until_the_end(), timeout=10))
    assert [m.version for m in seen if m.id is not None] == [1]
    assert seen[-1].retry is not None
