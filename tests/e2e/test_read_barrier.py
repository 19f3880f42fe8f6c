"""Reads with ``min_position`` (read-your-writes across views): a position no write has reached
is refused 409 ``position_ahead`` at once, and requests waiting for a view to catch up hold no
worker thread, so however many wait, the rest of the service keeps answering."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from projections.updater import ViewUpdater
from tests.e2e.conftest import OWNER
from tests.support.api import Service, running
from tests.support.server_process import wait_until
from tests.support.stores import StoreConfig

BARRIER_S = 30.0  # the longest a read may wait (the setting's maximum): far beyond any answer
ANSWER_TIMEOUT_S = 10.0  # generous for an answer that must not wait out the barrier
WAITERS = 160  # four times the worker threads


@pytest.fixture
def service(store: StoreConfig) -> Iterator[Service]:
    with running(store, read_barrier_seconds=BARRIER_S) as svc:
        yield svc


def new_session(service: Service, title: str) -> dict[str, Any]:
    created = service.call("POST", "/api/campaigns/new", OWNER, json={"title": title})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


@pytest.mark.parametrize("route", ["my sessions", "history"])
def test_a_min_position_past_the_stores_head_is_refused_at_once(
    service: Service, route: str
) -> None:
    sid = new_session(service, "Salt Road")["session_id"]
    path = "/api/sessions" if route == "my sessions" else f"/api/sessions/{sid}/history"
    answer = service.call(
        "GET", path, OWNER, params={"min_position": 2**62}, timeout=ANSWER_TIMEOUT_S
    )
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "position_ahead"
    assert error["details"] == {"head": service.state.sessions.max_position()}


def test_a_min_position_the_store_has_reached_is_still_answered(service: Service) -> None:
    written = new_session(service, "Salt Road")
    answer = service.call(
        "GET", "/api/sessions", OWNER, params={"min_position": written["position"]}
    )
    assert answer.status_code == 200, answer.text
    assert written["session_id"] in [s["session_id"] for s in answer.json()["sessions"]]


@pytest.mark.slow
def test_many_reads_waiting_for_a_view_do_not_hold_up_other_requests(service: Service) -> None:
    other = new_session(service, "Salt Road")["session_id"]
    view = service.state.my_sessions
    view.stop()  # the view stops following the store; the test moves it on below
    written = new_session(service, "Ash Market")
    headers = service.headers(OWNER)

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=WAITERS + 10)
        async with httpx.AsyncClient(
            base_url=service.base_url, headers=headers, limits=limits, timeout=60
        ) as client:
            waits = [
                asyncio.create_task(
                    client.get("/api/sessions", params={"min_position": written["position"]})
                )
                for _ in range(WAITERS)
            ]
            await asyncio.to_thread(
                wait_until, lambda: view.waiting == WAITERS, timeout=30, what="the reads to wait"
            )
            # A route that runs on the worker threads answers while every read still waits.
            read = await client.get(f"/api/sessions/{other}", timeout=ANSWER_TIMEOUT_S)
            assert read.status_code == 200, read.text
            assert (await client.get("/healthz", timeout=ANSWER_TIMEOUT_S)).status_code == 200
            assert not any(wait.done() for wait in waits)

            await asyncio.to_thread(catch_up, view)
            for answer in await asyncio.gather(*waits):
                assert answer.status_code == 200
                listed = [s["session_id"] for s in answer.json()["sessions"]]
                assert written["session_id"] in listed

    asyncio.run(scenario())


def catch_up(view: ViewUpdater) -> None:
    while view.run_once():
        pass
