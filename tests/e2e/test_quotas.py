"""Quotas on what costs money or capacity: guest sign-ups, new sessions, turns, turns waiting
for narration, retries, open streams and uploads each end in 429 ``rate_limited`` with
Retry-After and the limit's name, and a refused request writes nothing (real uvicorn; the
store-backed caps on both stores)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from uuid import UUID

import httpx

from tests.e2e.conftest import OWNER, PLAYER
from tests.support.api import Service, running
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.media import PNG, png_of_size
from tests.support.sse import async_client, events_path, stream
from tests.support.stores import StoreConfig

OTHER = "user-other"


def assert_rate_limited(answer: httpx.Response, limit: str) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["Retry-After"]) >= 1
    error = answer.json()["error"]
    assert (error["code"], error["details"]["limit"]) == ("rate_limited", limit)


def new_session(service: Service, user: str = OWNER) -> str:
    created = service.call("POST", "/api/campaigns/new", user, json={"title": "Quota"})
    assert created.status_code == 201, created.text
    return str(created.json()["session_id"])


def seat(service: Service, sid: str, user: str) -> None:
    sessions = service.state.sessions
    token = sessions.issue_invite(session_id=UUID(sid), actor=OWNER, role="player").token
    sessions.accept_invite(token=token, user_id=user, display_name=user)


def turn(service: Service, sid: str, user: str = OWNER, **headers: str) -> httpx.Response:
    return service.call(
        "POST", f"/api/sessions/{sid}/turns", user, json={"text": "I wait"}, headers=headers
    )


def submitted_turns(service: Service, sid: str) -> int:
    events = service.state.sessions.events.get(UUID(sid))
    return sum(1 for e in events if type(e).__name__ == "TurnSubmitted")


def test_guest_sign_ups_past_the_address_quota_get_429(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store, guest_signups_per_address_per_hour=3) as service:
        answers = [
            service.client.post("/api/auth/guest", json={"display_name": f"G{n}"}) for n in range(4)
        ]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_rate_limited(answers[3], "guest_signups_per_address")


def test_new_sessions_and_forks_share_one_quota_per_user(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store, sessions_per_user_per_hour=2) as service:
        sid = new_session(service)
        forked = service.call("POST", f"/api/sessions/{sid}/fork", OWNER, json={})
        assert forked.status_code == 201, forked.text
        assert_rate_limited(
            service.call("POST", "/api/campaigns/new", OWNER, json={}), "sessions_per_user"
        )
        assert_rate_limited(
            service.call("POST", f"/api/sessions/{sid}/fork", OWNER, json={}), "sessions_per_user"
        )
        assert service.call("POST", "/api/campaigns/new", OTHER, json={}).status_code == 201


def test_turns_past_the_user_quota_get_429_and_are_not_written(store: StoreConfig) -> None:
    with running(store, turns_per_user_per_minute=2) as service:
        first, second = new_session(service), new_session(service)
        assert turn(service, first).status_code == 202
        assert turn(service, second).status_code == 202
        assert_rate_limited(turn(service, first), "turns_per_user")
        assert submitted_turns(service, first) == 1


def test_turns_past_the_session_quota_get_429_whoever_sends_them(store: StoreConfig) -> None:
    with running(store, turns_per_session_per_minute=2) as service:
        sid = new_session(service)
        seat(service, sid, PLAYER)
        assert turn(service, sid, OWNER).status_code == 202
        assert turn(service, sid, PLAYER).status_code == 202
        assert_rate_limited(turn(service, sid, PLAYER), "turns_per_session")
        assert turn(service, new_session(service, PLAYER), PLAYER).status_code == 202


def test_a_repeated_idempotency_key_costs_no_turn_quota(store: StoreConfig) -> None:
    with running(store, turns_per_user_per_minute=2) as service:
        sid = new_session(service)
        first = turn(service, sid, **{"Idempotency-Key": "a"})
        repeat = turn(service, sid, **{"Idempotency-Key": "a"})
        assert (first.status_code, repeat.status_code) == (202, 202)
        assert repeat.json()["turn_id"] == first.json()["turn_id"]
        assert turn(service, sid, **{"Idempotency-Key": "b"}).status_code == 202
        assert_rate_limited(turn(service, sid, **{"Idempotency-Key": "c"}), "turns_per_user")


def test_turns_waiting_for_narration_are_capped_per_session(store: StoreConfig) -> None:
    release = threading.Event()
    with FakeLLM() as llm:
        llm.always(Answer(text="The tide turns.", stream=True, release=release))
        with running(store, llm_base_url=llm.base_url, pending_turns_per_session=2) as service:
            sid = new_session(service)
            assert turn(service, sid).status_code == 202
            assert turn(service, sid).status_code == 202
            llm.wait_for_requests(1, timeout=10)  # the first is held inside the provider call
            assert_rate_limited(turn(service, sid), "pending_turns_per_session")
            assert submitted_turns(service, sid) == 2
            assert turn(service, new_session(service)).status_code == 202  # per session
            release.set()
            service.narrated()
            assert turn(service, sid).status_code == 202


def test_retries_of_one_turn_are_limited_per_turn(store: StoreConfig) -> None:
    with running(store, retries_per_turn_per_hour=1) as service:
        sid = new_session(service)
        first, second = (str(turn(service, sid).json()["turn_id"]) for _ in range(2))
        service.narrated()

        def retry(turn_id: str) -> httpx.Response:
            return service.call("POST", f"/api/sessions/{sid}/turns/{turn_id}/retry", OWNER)

        assert retry(first).status_code == 202
        service.narrated()
        version = service.version(sid)
        assert_rate_limited(retry(first), "retries_per_turn")
        assert service.version(sid) == version
        assert retry(second).status_code == 202


def test_quotas_off_refuse_nothing(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store, quotas_enabled=False, turns_per_user_per_minute=1) as service:
        sid = new_session(service)
        assert [turn(service, sid).status_code for _ in range(3)] == [202, 202, 202]


def upload(service: Service, sid: str, file: bytes) -> httpx.Response:
    return service.call(
        "POST", f"/api/sessions/{sid}/media", OWNER, files={"file": ("a.png", file, "image/png")}
    )


def test_uploads_past_the_session_quota_get_429(store: StoreConfig) -> None:
    with running(store, uploads_per_session_per_hour=2) as service:
        sid = new_session(service)
        assert [upload(service, sid, PNG).status_code for _ in range(2)] == [201, 201]
        version = service.version(sid)
        assert_rate_limited(upload(service, sid, PNG), "uploads_per_session")
        assert service.version(sid) == version
        assert upload(service, new_session(service), PNG).status_code == 201


def test_uploads_past_the_user_quota_get_429(store: StoreConfig) -> None:
    with running(store, uploads_per_user_per_hour=1) as service:
        assert upload(service, new_session(service), PNG).status_code == 201
        assert_rate_limited(upload(service, new_session(service), PNG), "uploads_per_user")


def test_stored_bytes_past_the_session_cap_are_refused_and_not_recorded(
    store: StoreConfig,
) -> None:
    with running(store, media_bytes_per_session=3000) as service:
        sid = new_session(service)
        assert upload(service, sid, png_of_size(2000, seed=1)).status_code == 201
        version = service.version(sid)
        refused = upload(service, sid, png_of_size(2000, seed=2))
        assert_rate_limited(refused, "media_bytes_per_session")
        assert refused.json()["error"]["details"]["stored"] == 2000
        assert service.version(sid) == version
        assert upload(service, sid, png_of_size(1000, seed=3)).status_code == 201  # exactly full
        assert_rate_limited(upload(service, sid, PNG), "media_bytes_per_session")


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _streams_per_user(service: Service, sid: str) -> None:
    headers = service.headers(OWNER)
    path = events_path(sid)
    slots = service.state.stream_slots
    async with async_client(service.base_url) as client:
        async with stream(client, path, headers=headers) as first:
            assert first.status_code == 200
            async with stream(client, path, headers=headers) as second:
                assert second.status_code == 200
                async with stream(client, path, headers=headers) as third:
                    assert_rate_limited(third, "streams_per_user")
            await until(lambda: slots.open_count(OWNER) == 1)  # closing one freed its slot
            async with stream(client, path, headers=headers) as again:
                assert again.status_code == 200
        await until(lambda: slots.open_count() == 0)


def test_open_streams_are_capped_per_user_and_a_closed_one_frees_its_slot(
    store: StoreConfig,
) -> None:
    with running(store, streams_per_user=2) as service:
        asyncio.run(_streams_per_user(service, new_session(service)))


async def _streams_per_instance(service: Service, mine: str, theirs: str) -> None:
    other = service.headers(OTHER)
    async with (
        async_client(service.base_url) as client,
        stream(client, events_path(mine), headers=service.headers(OWNER)) as first,
        stream(client, events_path(theirs), headers=other) as second,
        stream(client, events_path(theirs), headers=other) as third,
    ):
        assert (first.status_code, second.status_code) == (200, 200)
        assert_rate_limited(third, "streams_per_instance")


def test_open_streams_are_capped_per_instance(store: StoreConfig) -> None:
    with running(store, streams_per_instance=2) as service:
        mine, theirs = new_session(service), new_session(service, OTHER)
        asyncio.run(_streams_per_instance(service, mine, theirs))
