"""Authentication: turning a bearer token into a Principal, in mode "local" (our own HS256
tokens) or "oidc" (an identity provider's RS256 tokens), plus stream tickets for EventSource.

Modules: ``base`` (Principal, AuthError, shared claim checks), ``local`` (LocalAuthenticator,
guest ids, the generated secret), ``oidc`` (OidcAuthenticator and its JWKS cache), ``tickets``
(StreamTickets). ``OidcAuthenticator`` is imported from ``api.auth.oidc``, so local mode never
loads its HTTP client. Errors::

    AuthError              any refused token; ``reason`` for logs, the API answers 401
     └── JwksUnavailable   the provider's keys are out of reach and the token was not judged
                           (a server-side failure: 503 with Retry-After fits it better)
"""

from api.auth.base import Authenticator, AuthError, JwksUnavailable, Principal
from api.auth.local import LocalAuthenticator, load_or_create_secret, new_guest_id
from api.auth.tickets import MEDIA_TICKET_AUDIENCE, MEDIA_TICKET_TTL_S, StreamTickets

__all__ = [
    "MEDIA_TICKET_AUDIENCE",
    "MEDIA_TICKET_TTL_S",
    "AuthError",
    "Authenticator",
    "JwksUnavailable",
    "LocalAuthenticator",
    "Principal",
    "StreamTickets",
    "load_or_create_secret",
    "new_guest_id",
]
