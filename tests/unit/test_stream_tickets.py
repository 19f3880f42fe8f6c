"""Stream tickets: signed, stateless, one-session credentials for EventSource URLs."""

from __future__ import annotations

import base64
import json

import pytest

from api.auth import (
    MEDIA_TICKET_AUDIENCE,
    MEDIA_TICKET_TTL_S,
    AuthError,
    LocalAuthenticator,
    StreamTickets,
)
from api.auth.local import CLOCK_SKEW_S
from tests.support.clock import FakeClock

SECRET = "s" * 32 + "-ticket-test-secret"
OTHER_SECRET = "o" * 32 + "-another-test-secret"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SESSION = "0b3e0c1e-5a55-4f6e-9d38-4a3c2f1f2d10"
OTHER_SESSION = "7d1f2c3b-8e9a-4b5c-a6d7-e8f9a0b1c2d3"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def tickets(clock: FakeClock) -> StreamTickets:
    return StreamTickets(SECRET, clock=clock)


def refused(tickets: StreamTickets, ticket: str, session_id: str = SESSION) -> AuthError:
    with pytest.raises(AuthError) as caught:
        tickets.verify(ticket, session_id)
    return caught.value


def test_ticket_verifies_as_its_user_for_its_session(tickets: StreamTickets) -> None:
    principal = tickets.verify(tickets.issue("auth0|alice", "Alice", SESSION), SESSION)

    assert (principal.user_id, principal.display_name) == ("auth0|alice", "Alice")


def test_ticket_is_reusable_until_it_expires(tickets: StreamTickets, clock: FakeClock) -> None:
    ticket = tickets.issue("auth0|alice", "Alice", SESSION)

    for _ in range(3):
        assert tickets.verify(ticket, SESSION).user_id == "auth0|alice"
        clock.advance(19)


def test_ticket_is_refused_once_expired(tickets: StreamTickets, clock: FakeClock) -> None:
    ticket = tickets.issue("auth0|alice", "Alice", SESSION)
    clock.advance(tickets.ttl_s + CLOCK_SKEW_S)

    assert refused(tickets, ticket).reason == "expired"


def test_ticket_lives_sixty_seconds_by_default() -> None:
    assert StreamTickets(SECRET).ttl_s == 60


def test_ticket_for_another_session_is_refused(tickets: StreamTickets) -> None:
    ticket = tickets.issue("auth0|alice", "Alice", OTHER_SESSION)

    assert refused(tickets, ticket).reason == "wrong_session"


def test_ticket_with_a_tampered_session_is_refused(tickets: StreamTickets) -> None:
    header, payload, signature = tickets.issue("auth0|alice", "Alice", OTHER_SESSION).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "session_id": SESSION}).encode())

    error = refused(tickets, f"{header}.{forged.rstrip(b'=').decode()}.{signature}")

    assert error.reason == "invalid_signature"


def test_ticket_verifies_on_another_instance_or_after_a_restart(clock: FakeClock) -> None:
    ticket = StreamTickets(SECRET, clock=clock).issue("auth0|alice", "Alice", SESSION)

    assert StreamTickets(SECRET, clock=clock).verify(ticket, SESSION).user_id == "auth0|alice"


def test_ticket_signed_with_another_secret_is_refused(
    tickets: StreamTickets, clock: FakeClock
) -> None:
    ticket = StreamTickets(OTHER_SECRET, clock=clock).issue("auth0|alice", "Alice", SESSION)

    assert refused(tickets, ticket).reason == "invalid_signature"


def test_access_token_is_refused_as_a_ticket(tickets: StreamTickets, clock: FakeClock) -> None:
    access_token = LocalAuthenticator(SECRET, clock=clock).issue("auth0|alice", "Alice")

    assert refused(tickets, access_token).reason == "invalid_claims"


@pytest.mark.asyncio
async def test_ticket_is_refused_as_an_access_token(
    tickets: StreamTickets, clock: FakeClock
) -> None:
    ticket = tickets.issue("auth0|alice", "Alice", SESSION)

    with pytest.raises(AuthError) as caught:
        await LocalAuthenticator(SECRET, clock=clock).authenticate(ticket)

    assert caught.value.reason == "invalid_claims"


@pytest.mark.parametrize("ticket", ["", "garbage", "a.b.c"], ids=["empty", "one-part", "junk"])
def test_malformed_ticket_is_refused(tickets: StreamTickets, ticket: str) -> None:
    assert refused(tickets, ticket).reason == "malformed"


def media_tickets(clock: FakeClock) -> StreamTickets:
    return StreamTickets(
        SECRET, ttl_s=MEDIA_TICKET_TTL_S, audience=MEDIA_TICKET_AUDIENCE, clock=clock
    )


def test_a_media_ticket_lasts_an_hour_so_a_player_can_seek(clock: FakeClock) -> None:
    media = media_tickets(clock)
    ticket = media.issue("alice", "Alice", SESSION)
    clock.advance(MEDIA_TICKET_TTL_S - 1)
    assert media.verify(ticket, SESSION).user_id == "alice"
    clock.advance(1 + CLOCK_SKEW_S + 1)
    assert refused(media, ticket).reason == "expired"


def test_stream_and_media_tickets_are_not_accepted_as_each_other(
    tickets: StreamTickets, clock: FakeClock
) -> None:
    media = media_tickets(clock)
    refused(tickets, media.issue("alice", "Alice", SESSION))
    refused(media, tickets.issue("alice", "Alice", SESSION))
