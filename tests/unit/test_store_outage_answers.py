"""What a caller gets while the event store is out: 503 with Retry-After for ordinary requests,
and for an event stream a 200 that only says when to reconnect (a browser's EventSource gives up
for good on a non-200), whether the circuit already knows or a request is the first to find out."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from api import errors
from api.circuit import StoreCircuit, StoreGate
from domain.errors import StoreUnavailable

SID = "0b7c1f6e-5a55-4c3e-9d1e-6f0c3c1d2a10"
FAILURES = {
    "psycopg": lambda: psycopg.OperationalError("connection refused"),
    "domain": lambda: StoreUnavailable("the event store is unavailable"),
}


def failing_app(failure: str) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str) -> None:
        raise FAILURES[failure]()

    @app.get("/api/sessions/{sid}/history")
    def history(sid: str) -> None:
        raise FAILURES[failure]()

    return app


def gated_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(StoreGate)
    circuit = StoreCircuit("postgresql://127.0.0.1:1/none")
    circuit.is_open = True
    app.state.gaia = SimpleNamespace(circuit=circuit)

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str) -> dict[str, str]:
        return {"reached": "the route"}  # the gate answers first: never sent

    @app.get("/api/sessions/{sid}/history")
    def history(sid: str) -> dict[str, str]:
        return {"reached": "the route"}

    return app


def call(app: FastAPI, method: str, path: str) -> httpx.Response:
    """One request through the app in memory (the ASGI interface a server would use)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gaia") as client:
            return await client.request(method, path)

    return asyncio.run(send())


def assert_reconnect_hint(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = response.text.splitlines()
    assert "retry: 2000" in lines
    # Nothing but a comment and the hint: no event, no id, no data about the session.
    assert all(line.startswith((":", "retry:")) or not line for line in lines), response.text


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_stream_that_finds_the_store_out_is_told_when_to_reconnect(failure: str) -> None:
    assert_reconnect_hint(call(failing_app(failure), "GET", f"/api/sessions/{SID}/events"))


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_any_other_request_that_finds_the_store_out_gets_503_with_retry_after(
    failure: str,
) -> None:
    answer = call(failing_app(failure), "GET", f"/api/sessions/{SID}/history")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error"]["code"] == "store_unavailable"


def test_while_the_circuit_is_open_streams_get_the_hint_and_the_rest_503() -> None:
    app = gated_app()
    assert_reconnect_hint(call(app, "GET", f"/api/sessions/{SID}/events"))
    answer = call(app, "GET", f"/api/sessions/{SID}/history")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    # Only a GET is a stream: anything else on that path is an ordinary request.
    assert call(app, "POST", f"/api/sessions/{SID}/events").status_code == 503
