"""Media a browser loads itself: ``<img>`` and ``<audio>`` cannot send a bearer header, so a
media ticket in the URL opens that session's media, for members only, and nothing else."""

from __future__ import annotations

from urllib.parse import quote

from tests.e2e.conftest import OWNER, PLAYER, SPECTATOR, STRANGER, Table, seat_table
from tests.support.api import Service
from tests.support.media import PNG

IMAGE = PNG + b"for an img tag"


def ticket_for(service: Service, session_id: str, user: str, kind: str = "media") -> str:
    answer = service.call("POST", f"/api/sessions/{session_id}/{kind}-ticket", user)
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_in"] == (3600 if kind == "media" else 60)
    ticket: str = answer.json()["ticket"]
    return ticket


def upload(service: Service, table: Table, data: bytes = IMAGE) -> dict[str, str]:
    answer = service.call(
        "POST",
        f"/api/sessions/{table.session_id}/media",
        OWNER,
        files={"file": ("map.png", data, "image/png")},
    )
    assert answer.status_code == 201, answer.text
    stored: dict[str, str] = answer.json()
    return stored


def fetch(service: Service, url: str, ticket: str) -> int:
    """Load ``url`` with no header at all, as an ``<img src>`` does; the status, after checking
    that a 200 carries the image."""
    answer = service.client.get(f"{url}?ticket={quote(ticket)}")
    if answer.status_code == 200:
        assert answer.content == IMAGE
    return answer.status_code


def test_a_members_ticket_opens_the_sessions_media_by_id_and_by_name(service: Service) -> None:
    table = seat_table(service)
    stored = upload(service, table)
    for user in (OWNER, PLAYER, SPECTATOR):
        ticket = ticket_for(service, table.session_id, user)
        assert fetch(service, stored["url"], ticket) == 200
        assert fetch(service, f"/api/images/{stored['filename']}", ticket) == 200


def test_a_ticket_opens_only_its_own_session(service: Service) -> None:
    table = seat_table(service)
    stored = upload(service, table)
    elsewhere = service.call("POST", "/api/campaigns/new", OWNER, json={"title": "Elsewhere"})
    other_ticket = ticket_for(service, elsewhere.json()["session_id"], OWNER)
    # The owner belongs to both sessions, yet a ticket for one opens nothing of the other.
    assert fetch(service, stored["url"], other_ticket) == 401
    assert fetch(service, f"/api/images/{stored['filename']}", other_ticket) == 404


def test_a_removed_members_ticket_opens_nothing(service: Service) -> None:
    table = seat_table(service)
    stored = upload(service, table)
    ticket = ticket_for(service, table.session_id, PLAYER)
    removed = service.call("DELETE", f"/api/sessions/{table.session_id}/members/{PLAYER}", OWNER)
    assert removed.status_code == 204, removed.text
    assert fetch(service, stored["url"], ticket) == 404
    assert fetch(service, f"/api/images/{stored['filename']}", ticket) == 404


def test_no_ticket_a_bad_ticket_or_an_access_token_in_the_url_is_refused(
    service: Service,
) -> None:
    table = seat_table(service)
    stored = upload(service, table)
    assert ticket_for(service, table.session_id, SPECTATOR)  # a ticket exists to be had
    for url in (stored["url"], f"/api/images/{stored['filename']}"):
        assert service.client.get(url).status_code == 401
        assert fetch(service, url, "not-a-ticket") == 401
        token = service.token(OWNER)
        assert service.client.get(f"{url}?access_token={token}").status_code == 401
        # An access token is not a ticket either, even in the ticket parameter.
        assert fetch(service, url, token) == 401
    # A stranger cannot get a ticket for the session at all.
    answer = service.call("POST", f"/api/sessions/{table.session_id}/media-ticket", STRANGER)
    assert answer.status_code == 404


def test_stream_and_media_tickets_each_open_only_their_own_kind(service: Service) -> None:
    table = seat_table(service)
    stored = upload(service, table)
    stream_ticket = ticket_for(service, table.session_id, PLAYER, kind="stream")
    media_ticket = ticket_for(service, table.session_id, PLAYER)
    assert fetch(service, stored["url"], stream_ticket) == 401
    assert fetch(service, f"/api/images/{stored['filename']}", stream_ticket) == 401
    events = f"/api/sessions/{table.session_id}/events?ticket={quote(media_ticket)}"
    assert service.client.get(events).status_code == 401
