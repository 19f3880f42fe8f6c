"""Playing: a newcomer's first turn, idempotent submits, retries and paging the history."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service


def test_a_newcomer_plays_a_turn_and_reads_the_demo_narration(service: Service) -> None:
    guest = service.client.post("/api/auth/guest", json={"display_name": "Ada"}).json()
    headers = {"Authorization": f"Bearer {guest['access_token']}"}
    created = service.client.post(
        "/api/campaigns/new", json={"title": "First night"}, headers=headers
    )
    assert created.status_code == 201
    sid = created.json()["session_id"]
    turn = service.client.post(
        f"/api/sessions/{sid}/turns", json={"text": "I light a torch"}, headers=headers
    )
    assert turn.status_code == 202
    service.narrated()
    messages = service.client.get(f"/api/sessions/{sid}/history", headers=headers).json()[
        "messages"
    ]
    assert [m["role"] for m in messages] == ["player", "narrator"]
    assert messages[0]["text"] == "I light a torch"
    assert messages[0]["author"] == {"user_id": guest["user_id"], "display_name": "Ada"}
    assert messages[0]["pending"] is False
    assert messages[1]["turn_id"] == turn.json()["turn_id"]
    assert "demo" in messages[1]["text"].lower()


def test_a_repeated_idempotency_key_answers_the_first_response_and_writes_nothing(
    service: Service, table: Table
) -> None:
    path = f"/api/sessions/{table.session_id}/turns"
    headers = {"Idempotency-Key": "click-1"}
    first = service.call("POST", path, PLAYER, json={"text": "I run"}, headers=headers)
    service.narrated()
    version = service.version(table.session_id)
    again = service.call("POST", path, PLAYER, json={"text": "I run"}, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert service.version(table.session_id) == version


def test_a_pending_turn_is_marked_in_history(service: Service, table: Table) -> None:
    service.state.worker.narrator = _Never()  # nobody answers
    service.call("POST", f"/api/sessions/{table.session_id}/turns", PLAYER, json={"text": "Hello?"})
    messages = service.call("GET", f"/api/sessions/{table.session_id}/history", PLAYER).json()
    assert messages["messages"][-1]["pending"] is True


def test_history_pages_by_version(service: Service, table: Table) -> None:
    for n in range(4):
        service.call(
            "POST", f"/api/sessions/{table.session_id}/turns", PLAYER, json={"text": f"t{n}"}
        )
    service.narrated()
    path = f"/api/sessions/{table.session_id}/history"
    seen: list[int] = []
    after = None
    while True:
        params = {"limit": 3} | ({"after": after} if after is not None else {})
        page = service.call("GET", path, PLAYER, params=params).json()
        seen += [m["version"] for m in page["messages"]]
        after = page["next_after"]
        if after is None:
            break
    everything = service.call("GET", path, PLAYER, params={"limit": 500}).json()["messages"]
    assert seen == [m["version"] for m in everything]
    assert len(seen) == 10  # the seated turn, four more, each with its narration


def test_history_pages_backwards_from_the_latest_messages(service: Service, table: Table) -> None:
    for n in range(4):
        service.call(
            "POST", f"/api/sessions/{table.session_id}/turns", PLAYER, json={"text": f"t{n}"}
        )
    service.narrated()
    path = f"/api/sessions/{table.session_id}/history"
    everything = service.call("GET", path, PLAYER, params={"limit": 500}).json()["messages"]
    pages: list[list[int]] = []
    before: int | None = 2**62
    while before is not None:
        page = service.call("GET", path, PLAYER, params={"limit": 3, "before": before}).json()
        pages.append([m["version"] for m in page["messages"]])
        before = page["previous_before"]
    assert pages[0] == [m["version"] for m in everything[-3:]]  # the newest first
    assert [v for page in reversed(pages) for v in page] == [m["version"] for m in everything]
    middle = service.call("GET", path, PLAYER, params={"limit": 2, "before": pages[0][0]}).json()
    assert middle["next_after"] == middle["messages"][-1]["version"]  # newer ones exist


def test_retrying_a_turn_replaces_its_narration(service: Service, table: Table) -> None:
    response = service.call(
        "POST", f"/api/sessions/{table.session_id}/turns/{table.turn_id}/retry", OWNER
    )
    assert response.status_code == 202
    service.narrated()
    messages = service.call("GET", f"/api/sessions/{table.session_id}/history", PLAYER).json()
    replies = [m for m in messages["messages"] if m["role"] == "narrator"]
    assert len(replies) == 1
    assert replies[0]["version"] == response.json()["version"] + 1


def test_my_sessions_lists_each_session_with_my_role(service: Service, table: Table) -> None:
    position = service.call(
        "PATCH", f"/api/sessions/{table.session_id}", OWNER, json={"title": "Renamed"}
    ).json()["position"]
    listed = service.call("GET", "/api/sessions", PLAYER, params={"min_position": position}).json()
    [entry] = listed["sessions"]
    assert entry["session_id"] == table.session_id
    assert entry["role"] == "player"
    assert entry["title"] == "Renamed"
    assert entry["owner"]["user_id"] == OWNER
    assert entry["message_count"] == 2


class _Never:
    name = "never"
    model = "never"

    async def narrate(self, request: object, on_delta: object = None) -> object:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None
