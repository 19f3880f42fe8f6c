"""Who may open a session's stream, with which credentials, and that a stream carries its own
session's events only (both stores, real uvicorn)."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID

import httpx
import pytest

from api.auth import StreamTickets
from api.auth.local import SECRET_FILE_NAME
from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, STRANGER, Table
from tests.support.api import Service, running
from tests.support.jwks_server import JwksServer, RsaSigningKey
from tests.support.sse import async_client, events_path, messages, stream
from tests.support.stores import StoreConfig

SESSIONS = 50
RENAMES = 3  # per session, while every stream is open


def _seat(service: Service, n: int) -> tuple[str, int]:
    sessions = service.state.sessions
    written = sessions.start_session(owner=OWNER, owner_name=OWNER, title=f"session {n}")
    for user, role in ((PLAYER, "player"), (SPECTATOR, "spectator")):
        token = sessions.issue_invite(session_id=written.session_id, actor=OWNER, role=role).token
        joined = sessions.accept_invite(token=token, user_id=user, display_name=user)
    return str(written.session_id), joined.version


async def _isolation(
    service: Service, seated: list[tuple[str, int]]
) -> list[tuple[str, list[dict]]]:
    final = {sid: version + RENAMES for sid, version in seated}
    watchers = [
        (sid, user) for sid, _ in seated for user in (OWNER, OWNER, PLAYER, SPECTATOR)
    ]  # four streams per session
    opened = asyncio.Semaphore(0)

    async def watch(client: httpx.AsyncClient, sid: str, user: str) -> list[dict]:
        records: list[dict] = []
        async with stream(client, events_path(sid), headers=service.headers(user)) as response:
            assert response.status_code == 200, response.text
            opened.release()
            async for message in messages(response):
                if message.id is not None:
                    records.append(message.json())
                    if message.version == final[sid]:
                        return records
        raise AssertionError(f"the stream of {sid} ended early")

    def write() -> None:
        for n in range(RENAMES):
            for sid, _ in seated:
                service.state.sessions.rename(
                    session_id=UUID(sid), actor=OWNER, title=f"{sid} rename {n}"
                )

    async with async_client(service.base_url) as client:
        tasks = [asyncio.create_task(watch(client, sid, user)) for sid, user in watchers]
        for _ in watchers:
            await asyncio.wait_for(opened.acquire(), timeout=30)
        await asyncio.to_thread(write)
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return [(sid, records) for (sid, _), records in zip(watchers, results, strict=True)]


@pytest.mark.slow
def test_no_stream_ever_carries_an_event_of_another_session(service: Service) -> None:
    seated = [_seat(service, n) for n in range(SESSIONS)]
    titles = {sid: f"session {n}" for n, (sid, _) in enumerate(seated)}
    received = asyncio.run(_isolation(service, seated))
    assert len(received) == SESSIONS * 4
    for sid, records in received:
        assert [r["version"] for r in records] == list(range(1, len(records) + 1))
        assert records[0]["data"]["title"] == titles[sid]
        renames = [r["data"]["title"] for r in records if r["type"] == "SessionRenamed"]
        assert renames == [f"{sid} rename {n}" for n in range(RENAMES)]


def _status(service: Service, path: str, user: str | None, **headers: str) -> tuple[int, str]:
    answer = service.call("GET", path, user, headers=headers)
    assert answer.headers["content-type"] == "application/json"
    return answer.status_code, answer.json()["error"]["code"]


def test_a_non_member_gets_404_like_for_a_session_that_does_not_exist(
    service: Service, table: Table
) -> None:
    real = _status(service, events_path(table.session_id), STRANGER)
    unknown = _status(service, events_path("00000000-0000-4000-8000-000000000000"), STRANGER)
    malformed = _status(service, events_path("not-a-session"), STRANGER)
    assert real == unknown == malformed == (404, "not_found")


def test_a_stream_without_valid_credentials_is_refused_with_401(
    service: Service, table: Table
) -> None:
    token = service.token(PLAYER)
    sid = table.session_id
    refused = {
        "none": (events_path(sid), {}),
        "bad bearer": (events_path(sid), {"Authorization": "Bearer not-a-token"}),
        "access token as ticket": (events_path(sid, ticket=token), {}),
        "access token in the URL": (events_path(sid, access_token=token), {}),
        "garbage ticket": (events_path(sid, ticket="abc.def.ghi"), {}),
    }
    for credentials, (path, headers) in refused.items():
        answer = service.call("GET", path, None, headers=headers)
        assert answer.status_code == 401, credentials
        assert answer.headers["WWW-Authenticate"] == "Bearer", credentials


def _ticket(service: Service, session_id: str, user: str) -> str:
    answer = service.call("POST", f"/api/sessions/{session_id}/stream-ticket", user)
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] == 60
    return str(answer.json()["ticket"])


def test_every_member_gets_a_ticket_that_opens_the_stream(service: Service, table: Table) -> None:
    async def first_event(ticket: str) -> dict:
        async with (
            async_client(service.base_url) as client,
            stream(client, events_path(table.session_id, ticket=ticket)) as response,
        ):
            assert response.status_code == 200, response.text
            async for message in messages(response):
                return dict(message.json())
        raise AssertionError("the stream ended without an event")

    for user in (OWNER, PLAYER, SPECTATOR):
        ticket = _ticket(service, table.session_id, user)
        assert asyncio.run(first_event(ticket))["type"] == "SessionStarted", user


def test_a_ticket_is_refused_to_non_members_and_anonymous_callers(
    service: Service, table: Table
) -> None:
    path = f"/api/sessions/{table.session_id}/stream-ticket"
    assert service.call("POST", path, STRANGER).status_code == 404
    assert service.call("POST", path, None).status_code == 401


def test_an_expired_ticket_gets_401(service: Service, table: Table) -> None:
    secret = service.state.settings.jwt_secret
    assert secret is not None
    old = StreamTickets(secret, clock=lambda: time.time() - 120)
    ticket = old.issue(PLAYER, PLAYER, table.session_id)
    answer = service.call("GET", events_path(table.session_id, ticket=ticket), None)
    assert answer.status_code == 401


def test_a_ticket_for_another_session_gets_401(service: Service, table: Table) -> None:
    other = service.call("POST", "/api/campaigns/new", PLAYER, json={"title": "Other"})
    ticket = _ticket(service, other.json()["session_id"], PLAYER)
    answer = service.call("GET", events_path(table.session_id, ticket=ticket), None)
    assert answer.status_code == 401


def test_the_ticket_of_a_removed_member_gets_404(service: Service, table: Table) -> None:
    ticket = _ticket(service, table.session_id, PLAYER)
    removed = service.call("DELETE", f"/api/sessions/{table.session_id}/members/{PLAYER}", OWNER)
    assert removed.status_code == 204
    answer = service.call("GET", events_path(table.session_id, ticket=ticket), None)
    assert answer.status_code == 404


def test_in_oidc_mode_tickets_are_signed_with_a_secret_generated_into_the_data_dir(
    sqlite_store: StoreConfig,
) -> None:
    issuer, audience = "https://gaia-test.eu.auth0.com/", "https://api.gaia.example"
    key = RsaSigningKey.generate("key-a")
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": "auth0|ada", "iat": now, "exp": now + 600}
    headers = {"Authorization": f"Bearer {key.sign(claims)}"}
    with (
        JwksServer(key) as jwks,
        running(
            sqlite_store,
            auth_mode="oidc",
            oidc_issuer=issuer,
            oidc_audience=audience,
            oidc_jwks_url=jwks.url,
            jwt_secret=None,
        ) as service,
    ):
        created = service.client.post("/api/campaigns/new", json={}, headers=headers)
        sid = created.json()["session_id"]
        answer = service.client.post(f"/api/sessions/{sid}/stream-ticket", headers=headers)
        assert answer.status_code == 200, answer.text
        ticket = answer.json()["ticket"]

        async def first_event() -> dict:
            async with (
                async_client(service.base_url) as client,
                stream(client, events_path(sid, ticket=ticket)) as response,
            ):
                assert response.status_code == 200, response.text
                async for message in messages(response):
                    return dict(message.json())
            raise AssertionError("the stream ended without an event")

        assert asyncio.run(first_event())["type"] == "SessionStarted"
    assert (sqlite_store.data_dir / SECRET_FILE_NAME).stat().st_size > 0
