"""Session tickets: short-lived, signed, stateless credentials for what a browser loads by URL
without headers: a stream ticket opens one session's event stream (EventSource), a media
ticket that session's media (``<img>``, ``<audio>``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from api.auth.base import AuthError, Principal, TokenRules, decode, principal_from
from api.auth.local import CLOCK_SKEW_S, check_secret

# A ticket's audience differs from any access token's, and a stream ticket's from a media
# ticket's, so none is accepted as another.
TICKET_ISSUER = "gaia"
TICKET_AUDIENCE = "gaia:stream-ticket"
MEDIA_TICKET_AUDIENCE = "gaia:media-ticket"
# Media tickets outlive stream tickets: <audio> asks for new ranges whenever the player seeks,
# with the URL it was given, as long as the page plays it (an hour matches the media cache).
MEDIA_TICKET_TTL_S = 3600


def _rules(audience: str) -> TokenRules:
    return TokenRules(
        algorithms=("HS256",),
        issuer=TICKET_ISSUER,
        audience=audience,
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
        self,
        secret: str,
        *,
        ttl_s: int = 60,
        audience: str = TICKET_AUDIENCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = check_secret(secret)
        self._ttl_s = ttl_s
        self._audience = audience
        self._rules = _rules(audience)
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
            "aud": self._audience,
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
        claims = decode(ticket, self._key, self._rules, now=self._clock())
        session_id = claims["session_id"]
        if not isinstance(session_id, str):
            raise AuthError("malformed", "session_id must be a string")
        return principal_from(claims), session_id
