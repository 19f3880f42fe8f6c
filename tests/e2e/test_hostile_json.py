"""Free JSON is bounded (campaign settings by depth and size), numbers JSON does not have are
refused wherever JSON comes in, and no value stored by older code makes a read path fail."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import pytest

from domain.session import CampaignSession
from tests.e2e.conftest import OWNER
from tests.support.api import Service
from tests.support.sse import async_client, events_path, messages, stream


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_text(depth: int) -> str:
    """``nested(depth)`` as JSON text, written without the encoder's recursion."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def strict(text: str) -> Any:
    """Parse as a browser would: NaN and Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} in a response")

    return json.loads(text, parse_constant=refuse)


def create(service: Service, body: str) -> Any:
    return service.call(
        "POST",
        "/api/campaigns/new",
        OWNER,
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.parametrize("depth", [33, 300, 900])
def test_settings_nested_deeper_than_the_limit_are_refused(service: Service, depth: int) -> None:
    response = create(service, '{"title":"t","settings":' + nested_text(depth) + "}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("settings_too_deep", "invalid_request")
    assert service.call("GET", "/api/sessions", OWNER).json()["sessions"] == []


def test_settings_as_deep_as_the_limit_are_accepted(service: Service) -> None:
    response = create(service, '{"title":"t","settings":' + nested_text(32) + "}")
    assert response.status_code == 201, response.text


def test_settings_larger_than_the_limit_are_refused(service: Service) -> None:
    settings = {"notes": "x" * (64 * 1024)}
    response = service.call(
        "POST", "/api/campaigns/new", OWNER, json={"title": "t", "settings": settings}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "settings_too_large"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_number_json_does_not_have_is_refused(service: Service, constant: str) -> None:
    response = create(service, '{"title":"t","settings":{"luck":' + constant + "}}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "non_finite_number"
    assert service.call("GET", "/api/sessions", OWNER).json()["sessions"] == []


def test_a_body_too_deep_to_parse_is_a_client_error(service: Service) -> None:
    response = create(service, '{"settings":' + "[" * 100_000 + "]" * 100_000 + "}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "json_too_deep"


def stored_with_settings(service: Service, settings: dict[str, Any]) -> str:
    """Store a session the way older code could, past every check; its id."""
    session = CampaignSession._create(
        CampaignSession.SessionStarted,
        id=uuid4(),
        title="Old",
        owner=OWNER,
        owner_name="Ann",
        settings=settings,
        origin={"kind": "new"},
        actor=OWNER,
        occurred_at=None,
    )
    return str(service.state.sessions.save_new(session).session_id)


async def first_stream_event(service: Service, sid: str) -> dict[str, Any]:
    async with (
        async_client(service.base_url) as client,
        stream(client, events_path(sid), headers=service.headers(OWNER)) as response,
    ):
        assert response.status_code == 200, response.text
        async for message in messages(response):
            if message.id is not None:
                assert message.data is not None
                record: dict[str, Any] = strict(message.data)
                return record
    raise AssertionError("the stream ended without an event")


@pytest.mark.parametrize("depth", [300, 700])
def test_every_read_path_survives_settings_stored_deep_and_with_nan(
    service: Service, depth: int
) -> None:
    sid = stored_with_settings(
        service, {"deep": nested(depth), "luck": float("nan"), "edge": float("inf")}
    )
    turn = service.call("POST", f"/api/sessions/{sid}/turns", OWNER, json={"text": "I look"})
    assert turn.status_code == 202, turn.text
    service.narrated()
    for path in ("", "/members", "/history", "/timeline", "/state?at_version=1"):
        response = service.call("GET", f"/api/sessions/{sid}{path}", OWNER)
        assert response.status_code == 200, (path, response.text)
        strict(response.text)
    started = strict(service.call("GET", f"/api/sessions/{sid}/timeline", OWNER).text)
    data = started["events"][0]["data"]["settings"]
    assert data["luck"] is None
    assert data["edge"] is None
    export = service.call("GET", f"/api/sessions/{sid}/export", OWNER)
    assert export.status_code == 200
    lines = export.text.splitlines()
    assert [strict(line)["type"] for line in (lines[0], lines[-1])] == ["header", "trailer"]
    assert len(lines) == 2 + service.version(sid)
    record = asyncio.run(first_stream_event(service, sid))
    assert record["type"] == "SessionStarted"
    fork = service.call("POST", f"/api/sessions/{sid}/fork", OWNER, json={})
    assert fork.status_code == 201, fork.text
