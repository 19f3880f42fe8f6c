"""Campaign state through the API: the narrator's structured reply moves the scene and starts
combat, ``state?at_version`` shows the state as it was, rewinds take it back, forks inherit
it, and the timeline lists the new events (both stores)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from projections.export import verify_export
from tests.e2e.conftest import OWNER, PLAYER, Table
from tests.support.api import Service, running
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.sse import Message, async_client, events_path, messages, stream
from tests.support.stores import StoreConfig

REPLY = (
    '{"narrative": "Orcs burst from the reeds.", "player_options": ["Fight"], '
    '"scene": {"title": "The ford", "description": "Knee-deep water"}, '
    '"combat_status": {"orc": {"hp": "7/7"}, "Mira": {"hp": "9/9"}}, '
    '"turn_info": {"round": 1, "initiative_order": ["orc", "Mira"], "is_combat": true}}'
)


def _create(service: Service, sid: str, name: str, hit_points: int) -> dict[str, Any]:
    made = service.call(
        "POST",
        f"/api/sessions/{sid}/characters",
        PLAYER,
        json={"name": name, "hit_points_current": hit_points, "hit_points_max": 9},
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def test_a_structured_reply_enters_a_scene_and_starts_combat(store: StoreConfig) -> None:
    with FakeLLM() as llm:
        llm.always(Answer(text=REPLY))
        with running(store, llm_base_url=llm.base_url) as service:
            sid = service.call("POST", "/api/campaigns/new", OWNER, json={}).json()["session_id"]
            turn = service.call("POST", f"/api/sessions/{sid}/turns", OWNER, json={"text": "Go"})
            assert turn.status_code == 202
            service.narrated()
            doc = service.call("GET", f"/api/sessions/{sid}/campaign", OWNER).json()
            timeline = service.call("GET", f"/api/sessions/{sid}/timeline", OWNER).json()
            history = service.call("GET", f"/api/sessions/{sid}/history", OWNER).json()
    assert doc["scene"] == {"title": "The ford", "description": "Knee-deep water"}
    assert doc["combat"]["combatants"]["orc"] == {"hp": "7/7"}
    assert doc["combat"]["initiative"] == ["orc", "Mira"]
    types = [event["type"] for event in timeline["events"]]
    assert types[-3:] == ["NarrationCompleted", "SceneEntered", "CombatStarted"]
    reply = history["messages"][-1]
    assert reply["structured"]["scene"]["title"] == "The ford"  # the reply itself is kept whole


def test_state_at_a_version_holds_the_campaign_state_as_it_was(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    made = _create(service, sid, "Mira", 9)
    path = f"/api/sessions/{sid}/characters/{made['character']['character_id']}"
    hurt = service.call("PATCH", path, PLAYER, json={"hit_points_current": 2})
    assert hurt.status_code == 200, hurt.text
    then = service.call("GET", f"/api/sessions/{sid}/state?at_version={made['version']}", PLAYER)
    now = service.call(
        "GET", f"/api/sessions/{sid}/state?at_version={hurt.json()['version']}", PLAYER
    )
    before = service.call(
        "GET", f"/api/sessions/{sid}/state?at_version={made['version'] - 1}", PLAYER
    )
    assert [c["hit_points_current"] for c in then.json()["campaign"]["characters"]] == [9]
    assert [c["hit_points_current"] for c in now.json()["campaign"]["characters"]] == [2]
    assert before.json()["campaign"]["characters"] == []


def test_a_rewind_takes_the_campaign_state_back(service: Service, table: Table) -> None:
    sid = table.session_id
    quiet = service.version(sid)
    _create(service, sid, "Mira", 9)
    rewound = service.call("POST", f"/api/sessions/{sid}/rewind", OWNER, json={"to_version": quiet})
    assert rewound.status_code == 200, rewound.text
    assert service.call("GET", f"/api/sessions/{sid}/campaign", PLAYER).json()["characters"] == []


def test_a_fork_inherits_the_characters_at_its_fork_point(service: Service, table: Table) -> None:
    sid = table.session_id
    made = _create(service, sid, "Mira", 9)
    _create(service, sid, "Later", 1)
    fork = service.call(
        "POST", f"/api/sessions/{sid}/fork", PLAYER, json={"at_version": made["version"]}
    )
    assert fork.status_code == 201, fork.text
    doc = service.call("GET", f"/api/sessions/{fork.json()['session_id']}/campaign", PLAYER).json()
    assert [(c["name"], c["owner"]) for c in doc["characters"]] == [("Mira", PLAYER)]


def test_state_may_leave_out_the_campaign_and_the_history(service: Service, table: Table) -> None:
    sid = table.session_id
    _create(service, sid, "Mira", 9)
    params = {"at_version": service.version(sid), "history": "false", "campaign": "false"}
    bare = service.call("GET", f"/api/sessions/{sid}/state", PLAYER, params=params).json()
    assert "campaign" not in bare
    assert "messages" not in bare


def test_an_export_with_campaign_events_verifies(service: Service, table: Table) -> None:
    sid = table.session_id
    made = _create(service, sid, "Mira", 9)
    path = f"/api/sessions/{sid}/characters/{made['character']['character_id']}"
    service.call("PATCH", path, PLAYER, json={"retired": True})
    export = service.call("GET", f"/api/sessions/{sid}/export", PLAYER)
    assert export.status_code == 200
    lines = export.text.splitlines()
    verified = verify_export(lines, service.state.export_signer.public)
    assert verified.count == service.version(sid)
    types = [json.loads(line).get("event_type") for line in lines]
    assert {"CharacterCreated", "CharacterRetired"} <= set(types)


def test_a_new_character_reaches_a_live_stream(service: Service, table: Table) -> None:
    sid = table.session_id

    async def watch() -> Message:
        async with (
            async_client(service.base_url) as client,
            stream(client, events_path(sid), headers=service.headers(OWNER)) as response,
        ):
            assert response.status_code == 200
            await asyncio.to_thread(_create, service, sid, "Mira", 9)
            async for message in messages(response):
                if message.event == "CharacterCreated":
                    return message
        raise AssertionError("the stream ended before the character")

    created = asyncio.run(asyncio.wait_for(watch(), timeout=30))
    record = created.json()
    assert record["actor"] == PLAYER
    assert record["data"]["sheet"]["name"] == "Mira"
