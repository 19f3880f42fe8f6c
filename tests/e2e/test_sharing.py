"""Sharing a session: invite links, the web client's aliases, members, and abuse limits."""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import UUID

import psycopg

from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, STRANGER, Table
from tests.support.api import Service, running
from tests.support.stores import StoreConfig


def invite(service: Service, sid: str, **body: object) -> dict[str, object]:
    response = service.call("POST", f"/api/sessions/{sid}/invites", OWNER, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_an_invite_has_a_recognisable_token_and_the_documented_defaults(
    service: Service, table: Table
) -> None:
    created = invite(service, table.session_id)
    assert str(created["token"]).startswith("gaia_inv_")
    assert str(created["url"]).endswith(f"/join/{created['token']}")
    assert created["role"] == "player"
    assert created["max_uses"] is None
    assert created["expires_at"]


def test_accepting_an_invite_joins_with_its_role(service: Service, table: Table) -> None:
    token = invite(service, table.session_id, role="spectator")["token"]
    joined = service.call("POST", "/api/invites/accept", STRANGER, json={"token": token})
    assert joined.status_code == 200
    assert joined.json()["session_id"] == table.session_id
    assert joined.json()["role"] == "spectator"
    assert service.call("GET", f"/api/sessions/{table.session_id}", STRANGER).status_code == 200


def test_unknown_expired_revoked_and_used_up_tokens_get_one_generic_answer(
    service: Service, table: Table
) -> None:
    sid = table.session_id
    used_up = invite(service, sid, max_uses=1)["token"]
    service.call("POST", "/api/invites/accept", "first-user", json={"token": used_up})
    revoked = invite(service, sid)
    service.call("DELETE", f"/api/sessions/{sid}/invites/{revoked['invite_id']}", OWNER)
    expiring = invite(service, sid, expires_in_s=1)["token"]
    service.state.sessions.clock = _later(service.state.sessions.clock, seconds=5)
    unknown = "gaia_inv_" + UUID(sid).hex + "_" + "A" * 32
    answers = [
        service.call("POST", "/api/invites/accept", f"u{n}", json={"token": token})
        for n, token in enumerate([unknown, "not-a-token", expiring, revoked["token"], used_up])
    ]
    assert {a.status_code for a in answers} == {404}
    assert {a.json()["error"]["code"] for a in answers} == {"invite_invalid"}
    assert len({a.json()["error"]["message"] for a in answers}) == 1


def test_the_share_and_join_aliases_work_for_the_existing_web_client(
    service: Service, table: Table
) -> None:
    shared = service.call(
        "POST", "/api/sessions/share", OWNER, json={"session_id": table.session_id}
    )
    assert shared.status_code == 200  # ARCHITECTURE §6.1: share answers 200, not 201
    token = shared.json()["invite_token"]
    assert token == shared.json()["token"]
    joined = service.call("POST", "/api/sessions/join", STRANGER, json={"invite_token": token})
    assert joined.status_code == 200
    assert joined.json() | {"version": 0, "position": 0} == {
        "session_id": table.session_id,
        "role": "player",
        "version": 0,
        "position": 0,
    }
    refused = service.call(
        "POST", "/api/sessions/share", PLAYER, json={"session_id": table.session_id}
    )
    assert refused.status_code == 403


def test_twenty_users_racing_for_an_invite_with_five_uses_let_exactly_five_join(
    service: Service, table: Table
) -> None:
    token = invite(service, table.session_id, max_uses=5)["token"]
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def accept(n: int) -> None:
        barrier.wait()
        answer = service.call("POST", "/api/invites/accept", f"racer-{n}", json={"token": token})
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [404] * 15
    members = service.call("GET", f"/api/sessions/{table.session_id}/members", OWNER).json()
    assert len([m for m in members["members"] if m["user_id"].startswith("racer-")]) == 5


def test_a_blocked_user_cannot_rejoin_through_any_invite(service: Service, table: Table) -> None:
    removed = service.call(
        "DELETE",
        f"/api/sessions/{table.session_id}/members/{PLAYER}",
        OWNER,
        params={"block": "true"},
    )
    assert removed.status_code == 204
    token = invite(service, table.session_id)["token"]
    answer = service.call("POST", "/api/invites/accept", PLAYER, json={"token": token})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "blocked"


def test_a_removed_member_loses_access_to_every_session_route_at_once(
    service: Service, table: Table
) -> None:
    service.call("DELETE", f"/api/sessions/{table.session_id}/members/{SPECTATOR}", OWNER)
    for path in ("", "/history", "/members"):
        assert (
            service.call("GET", f"/api/sessions/{table.session_id}{path}", SPECTATOR).status_code
            == 404
        )


def test_a_member_can_leave_but_the_owner_cannot(service: Service, table: Table) -> None:
    assert (
        service.call("DELETE", f"/api/sessions/{table.session_id}/members/me", PLAYER).status_code
        == 204
    )
    assert service.call("GET", f"/api/sessions/{table.session_id}", PLAYER).status_code == 404
    owner_leaves = service.call("DELETE", f"/api/sessions/{table.session_id}/members/me", OWNER)
    assert owner_leaves.status_code == 422


def test_the_owner_changes_roles_but_cannot_be_demoted(service: Service, table: Table) -> None:
    path = f"/api/sessions/{table.session_id}/members"
    promoted = service.call("PATCH", f"{path}/{SPECTATOR}", OWNER, json={"role": "player"})
    assert promoted.status_code == 200
    assert (
        service.call(
            "POST",
            f"/api/sessions/{table.session_id}/turns",
            SPECTATOR,
            json={"text": "Now I can act"},
        ).status_code
        == 202
    )
    assert (
        service.call("PATCH", f"{path}/{OWNER}", OWNER, json={"role": "player"}).status_code == 422
    )
    assert (
        service.call("PATCH", f"{path}/{PLAYER}", OWNER, json={"role": "owner"}).status_code == 422
    )
    assert (
        service.call("PATCH", f"{path}/nobody", OWNER, json={"role": "player"}).status_code == 404
    )


def test_accepting_invites_is_rate_limited_per_user(store: StoreConfig) -> None:
    with running(store, invite_accepts_per_user_per_minute=3) as service:
        answers = [
            service.call("POST", "/api/invites/accept", STRANGER, json={"token": "nope"})
            for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_accepting_invites_is_rate_limited_per_client_address(store: StoreConfig) -> None:
    with running(store, invite_accepts_per_address_per_minute=2) as service:
        answers = [
            service.call("POST", "/api/invites/accept", f"user-{n}", json={"token": "nope"})
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [404, 404, 429]


def test_no_invite_token_can_be_found_in_the_store_or_the_views(
    service: Service, table: Table, store: StoreConfig
) -> None:
    tokens = [str(invite(service, table.session_id)["token"]) for _ in range(3)]
    for token in tokens:
        service.call("POST", "/api/invites/accept", f"dump-{token[-4:]}", json={"token": token})
    dump = _dump_everything(store)
    for token in tokens:
        secret = token[len("gaia_inv_") + 32 + 1 :]  # the random part may itself contain "_"
        assert len(secret) == 32
        assert secret.encode() not in dump
        assert token.encode() not in dump


def _dump_everything(store: StoreConfig) -> bytes:
    chunks: list[bytes] = []
    if store.database_url:
        with psycopg.connect(store.database_url) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            ]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():  # noqa: S608
                    chunks.append(repr(row).encode())
    for path in store.data_dir.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes())
    return b"\n".join(chunks)


def _later(clock: object, *, seconds: float) -> object:
    return lambda: clock() + timedelta(seconds=seconds)  # type: ignore[operator]
