"""Stream tickets: short-lived, signed, stateless credentials that let a browser's EventSource,
which cannot send headers, open one session's event stream with the ticket in the URL."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from api.auth.base import AuthError, Principal, TokenRules, decode, principal_from
from api.auth.local import CLOCK_SKEW_S, check_secret

# A ticket's audience differs from any access token's, so neither is accepted as the other.
TICKET_ISSUER = "gaia"
TICKET_AUDIENCE = "gaia:stream-ticket"
_RULES = TokenRules(
    algorithms=("HS256",),
    issuer=TICKET_ISSUER,
    audience=TICKET_AUDIENCE,
    require=("exp", "iat", "sub", "iss", "aud", "session_id"),
    leeway_s=CLOCK_SKEW_S,
)


class StreamTickets:
    """Issues and verifies tickets bound to one user and one session.

    A ticket is reusable until it expires (EventSource reconnects to the same URL) and, being
    stateless, is valid on every instance and after a restart given the same secret. Expiry
    allows the few seconds of clock skew tolerated between instances.
    """

    def __init__(
        self, secret: str, *, ttl_s: int = 60, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = check_secret(secret)
        self._ttl_s = ttl_s
        self._clock = clock

    @property
    def ttl_s(self) -> int:
        """Seconds a new ticket stays valid: the ``expires_in`` of the HTTP answer."""
        return self._ttl_s

    def issue(self, user_id: str, display_name: str, session_id: str) -> str:
        """Sign a ticket letting ``user_id`` open the stream of ``session_id``."""
        if not user_id or not session_id:
            raise ValueError("user_id and session_id must not be empty")
        now = int(self._clock())
        claims = {
            "sub": user_id,
            "name": display_name,
            "session_id": session_id,
            "iss": TICKET_ISSUER,
            "aud": TICKET_AUDIENCE,
            "iat": now,
            "exp": now + self._ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, ticket: str, session_id: str) -> Principal:
        """Return the ticket's Principal if it is genuine, unexpired and for ``session_id``."""
        principal, ticket_session = self.read(ticket)
        if ticket_session != session_id:
            raise AuthError("wrong_session")
        return principal

    def read(self, ticket: str) -> tuple[Principal, str]:
        """The Principal and the session of a genuine, unexpired ticket.

        Membership is not checked here: the caller still checks that the user belongs to the
        session, so a ticket outliving a removal grants nothing.
        """
        claims = decode(ticket, self._key, _RULES, now=self._clock())
        session_id = claims["session_id"]
        if not isinstance(session_id, str):
            raise AuthError("malformed", "session_id must be a string")
        return principal_from(claims), session_id
