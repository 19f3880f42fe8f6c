"""Only the owner may read invites (the invite list is owner-only), so the timeline, the event
stream, the export and the session at a past version show other members invite events with
their ``invite_id`` alone: no role, expiry, uses or token hash. The events themselves stay, so
versions run on without a gap and a player's export still verifies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from projections.export import verify_export
from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, Table
from tests.support.api import Service
from tests.support.sse import async_client, events_path, messages, stream

INVITE_EVENTS = ("InviteIssued", "InviteRevoked")
DETAILS = ("token_sha256", "role", "max_uses", "expires_at")
ROLES = {OWNER: "owner", PLAYER: "player", SPECTATOR: "spectator"}


def revoke_an_invite(service: Service, table: Table) -> None:
    path = f"/api/sessions/{table.session_id}/invites/{table.invite_id}"
    assert service.call("DELETE", path, OWNER).status_code == 204


def timeline(service: Service, sid: str, user: str) -> list[dict[str, Any]]:
    answer = service.call("GET", f"/api/sessions/{sid}/timeline", user, params={"limit": 500})
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def exported(service: Service, sid: str, user: str) -> list[dict[str, Any]]:
    answer = service.call("GET", f"/api/sessions/{sid}/export", user)
    assert answer.status_code == 200, answer.text
    verify_export(answer.content.splitlines())  # the chain holds over what this reader sees
    return [json.loads(line) for line in answer.content.splitlines()[1:-1]]


def streamed(service: Service, sid: str, user: str, until: int) -> list[dict[str, Any]]:
    """The stream's events from the start up to ``until``; the last one arrives live: it is
    written (an invite issued) only once the replay has been read."""

    async def read() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with (
            async_client(service.base_url, headers=service.headers(user)) as client,
            stream(client, events_path(sid)) as response,
        ):
            assert response.status_code == 200
            async for message in messages(response):
                if message.id is None:
                    continue
                got.append(message.json())
                if message.version == until - 1:
                    await asyncio.to_thread(invite, service, sid)
                if message.version == until:
                    return got
        raise AssertionError("the stream ended early")

    return asyncio.run(asyncio.wait_for(read(), timeout=30))


def invite(service: Service, sid: str) -> None:
    answer = service.call(
        "POST", f"/api/sessions/{sid}/invites", OWNER, json={"role": "player", "max_uses": 3}
    )
    assert answer.status_code == 201, answer.text


def assert_shown_as(events: list[dict[str, Any]], role: str, *, type_key: str) -> None:
    """Versions 1, 2, 3, ...; invite events in full for the owner, as ``invite_id`` to others."""
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    invites = [e for e in events if e[type_key] in INVITE_EVENTS]
    assert {e[type_key] for e in invites} == set(INVITE_EVENTS)
    for event in invites:
        if role == "owner" and event[type_key] == "InviteIssued":
            assert set(DETAILS) <= event["data"].keys()
        else:
            assert set(event["data"]) == {"invite_id"}, event


@pytest.mark.parametrize("user", list(ROLES))
def test_the_timeline_and_the_export_show_invite_details_to_the_owner_only(
    service: Service, table: Table, user: str
) -> None:
    revoke_an_invite(service, table)
    sid = table.session_id
    assert_shown_as(timeline(service, sid, user), ROLES[user], type_key="type")
    assert_shown_as(exported(service, sid, user), ROLES[user], type_key="event_type")
    typed = service.call(
        "GET", f"/api/sessions/{sid}/timeline", user, params={"types": "InviteIssued"}
    )
    for event in typed.json()["events"]:
        assert ("token_sha256" in event["data"]) == (user == OWNER)


@pytest.mark.parametrize("user", list(ROLES))
def test_the_event_stream_shows_invite_details_to_the_owner_only_replayed_and_live(
    service: Service, table: Table, user: str
) -> None:
    revoke_an_invite(service, table)
    sid = table.session_id
    until = service.version(sid) + 1
    events = streamed(service, sid, user, until)
    assert_shown_as(events, ROLES[user], type_key="type")
    assert events[-1]["type"] == "InviteIssued"
    assert ("max_uses" in events[-1]["data"]) == (user == OWNER)


@pytest.mark.parametrize("user", [PLAYER, SPECTATOR])
def test_no_invite_detail_reaches_other_members_from_any_read(
    service: Service, table: Table, user: str
) -> None:
    revoke_an_invite(service, table)
    sid = table.session_id
    hashes = [
        e["data"]["token_sha256"]
        for e in timeline(service, sid, OWNER)
        if e["type"] == "InviteIssued"
    ]
    assert hashes
    version = service.version(sid)
    reads = [
        f"/api/sessions/{sid}/timeline",
        f"/api/sessions/{sid}/export",
        f"/api/sessions/{sid}",
        f"/api/sessions/{sid}/history",
        *(f"/api/sessions/{sid}/state?at_version={v}" for v in range(1, version + 1)),
    ]
    for path in reads:
        text = service.call("GET", path, user).text
        assert not any(h in text for h in hashes), path
        assert "token_sha256" not in text, path
        assert "max_uses" not in text, path
