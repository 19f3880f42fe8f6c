"""Every "not found, or not yours" answer is the same bytes whatever exists and whoever asks:
ids are guessable (an imported session's id is a uuid5 of its legacy name), so any difference
between them would tell a stranger which sessions, turns, invites, media and files exist."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from domain.ids import legacy_session_id
from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, STRANGER, Table, seat_table
from tests.support.api import Service
from tests.support.media import PNG

UNKNOWN = "00000000-0000-4000-8000-000000000000"
MALFORMED = "not-a-session"
# Headers that differ between any two answers, found or not.
VARYING = frozenset({"date"})

Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


def answer(response: httpx.Response) -> Answer:
    """An answer as raw bytes: status, headers (minus VARYING) and body."""
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in response.headers.raw
        if name.decode("latin-1").lower() not in VARYING
    )
    return response.status_code, headers, response.content


def session_routes(service: Service) -> list[tuple[str, str]]:
    """``(method, path template)`` of every route that names a session by ``{sid}``."""
    return sorted(
        (method.upper(), path)
        for path, operations in service.app.openapi()["paths"].items()
        if "{sid}" in path
        for method in operations
    )


def fill(template: str, sid: str, table: Table, media_id: str) -> str:
    """The path with ``sid`` and, for the other ids, ones that exist in the table's session."""
    return template.format(
        sid=sid,
        turn_id=table.turn_id,
        invite_id=table.invite_id,
        user_id=PLAYER,
        kind="image",
        media_id=media_id,
        character_id=UNKNOWN,
    )


def upload(service: Service, sid: str, data: bytes) -> dict[str, Any]:
    stored = service.call(
        "POST", f"/api/sessions/{sid}/media", OWNER, files={"file": ("map.png", data, "image/png")}
    )
    assert stored.status_code == 201, stored.text
    body: dict[str, Any] = stored.json()
    return body


def test_every_session_route_answers_a_stranger_the_same_bytes_whatever_exists(
    service: Service,
) -> None:
    table = seat_table(service)
    image = upload(service, table.session_id, PNG + b"a map")
    answers: dict[Answer, list[str]] = {}
    for method, template in session_routes(service):
        for sid in (table.session_id, UNKNOWN, MALFORMED):
            path = fill(template, sid, table, image["media_id"])
            response = service.call(method, path, STRANGER, json={})
            assert response.status_code == 404, (method, path, response.text)
            answers.setdefault(answer(response), []).append(f"{method} {path}")
    assert len(answers) == 1, list(answers.values())


def test_a_removed_or_blocked_member_gets_the_answer_of_a_session_that_does_not_exist(
    service: Service,
) -> None:
    table = seat_table(service)
    path = f"/api/sessions/{table.session_id}"
    for user, block in ((PLAYER, "false"), (SPECTATOR, "true")):
        gone = service.call("DELETE", f"{path}/members/{user}", OWNER, params={"block": block})
        assert gone.status_code == 204, gone.text
    never = answer(service.call("GET", f"/api/sessions/{UNKNOWN}", STRANGER))
    for user in (PLAYER, SPECTATOR):
        for suffix in ("", "/history", "/events", "/timeline", "/export"):
            assert answer(service.call("GET", path + suffix, user)) == never, (user, suffix)


def test_ids_a_member_may_not_see_are_answered_like_ids_that_never_existed(
    service: Service,
) -> None:
    """Inside their own session, a member asking for another session's turn, invite or media
    gets the bytes of an unknown id; so does anyone asking for an image by a name they cannot
    see, or sharing a session that is not theirs."""
    mine, theirs = seat_table(service), seat_table(service)
    their_image = upload(service, theirs.session_id, PNG + b"their map")
    base = f"/api/sessions/{mine.session_id}"
    issued = service.call("POST", f"{base}/media-ticket", OWNER)
    assert issued.status_code == 200, issued.text
    my_ticket = {"params": {"ticket": issued.json()["ticket"]}}
    reference = answer(service.call("GET", f"/api/sessions/{UNKNOWN}", STRANGER))
    calls: list[tuple[str, str, str | None, dict[str, Any]]] = [
        ("POST", f"{base}/turns/{theirs.turn_id}/retry", PLAYER, {}),
        ("POST", f"{base}/turns/{UNKNOWN}/retry", PLAYER, {}),
        ("POST", f"{base}/turns/{MALFORMED}/retry", PLAYER, {}),
        ("DELETE", f"{base}/invites/{theirs.invite_id}", OWNER, {}),
        ("DELETE", f"{base}/invites/{UNKNOWN}", OWNER, {}),
        ("PATCH", f"{base}/members/nobody", OWNER, {"json": {"role": "player"}}),
        ("GET", f"/api/media/{mine.session_id}/image/{their_image['media_id']}", PLAYER, {}),
        ("GET", f"/api/media/{mine.session_id}/image/{UNKNOWN}", PLAYER, {}),
        ("GET", f"/api/media/{mine.session_id}/audio/{UNKNOWN}", PLAYER, {}),
        ("GET", f"/api/media/{theirs.session_id}/image/{their_image['media_id']}", STRANGER, {}),
        ("GET", f"/api/images/{their_image['filename']}", STRANGER, {}),
        ("GET", f"/api/images/{UUID(int=7)}.png", STRANGER, {}),
        ("GET", f"/api/images/{their_image['filename']}", None, my_ticket),
        ("GET", f"/api/images/{UUID(int=7)}.png", None, my_ticket),
        ("GET", "/api/images/..hidden", STRANGER, {}),
        ("POST", "/api/sessions/share", STRANGER, {"json": {"session_id": theirs.session_id}}),
        ("POST", "/api/sessions/share", STRANGER, {"json": {"session_id": UNKNOWN}}),
        ("POST", "/api/sessions/share", STRANGER, {"json": {"session_id": MALFORMED}}),
        ("GET", "/api/no-such-route", STRANGER, {}),
    ]
    for method, path, user, kwargs in calls:
        assert answer(service.call(method, path, user, **kwargs)) == reference, (method, path)
    assert reference[0] == 404
    assert reference[2] == b'{"error":{"code":"not_found","message":"not found","details":{}}}'


def test_a_stream_ticket_of_a_removed_member_meets_the_same_answer(
    service: Service, table: Table
) -> None:
    issued = service.call("POST", f"/api/sessions/{table.session_id}/stream-ticket", PLAYER)
    assert issued.status_code == 200, issued.text
    removed = service.call("DELETE", f"/api/sessions/{table.session_id}/members/{PLAYER}", OWNER)
    assert removed.status_code == 204, removed.text
    with_ticket = service.client.get(
        f"/api/sessions/{table.session_id}/events", params={"ticket": issued.json()["ticket"]}
    )
    never = service.call("GET", f"/api/sessions/{UNKNOWN}/events", STRANGER)
    assert answer(with_ticket) == answer(never)


def test_probing_the_guessable_ids_of_imported_campaigns_tells_nothing(service: Service) -> None:
    """An imported session's id is a uuid5 of its legacy name, so anyone can compute
    ``campaign_1``'s; asking for it must answer exactly what a name never imported gets."""
    sessions = service.state.sessions
    imported = sessions.start_legacy_session(
        legacy_id="campaign_1", source="campaigns/campaign_1", title="Old", owner=OWNER
    )
    sessions.save_new(imported)
    for suffix in ("", "/history", "/events", "/timeline", "/export", "/members"):
        found = service.call(
            "GET", f"/api/sessions/{legacy_session_id('campaign_1')}{suffix}", STRANGER
        )
        never = service.call(
            "GET", f"/api/sessions/{legacy_session_id('campaign_2')}{suffix}", STRANGER
        )
        assert answer(found) == answer(never), suffix
    assert service.call("GET", f"/api/sessions/{imported.id}", OWNER).status_code == 200
