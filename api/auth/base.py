"""What every authentication mode shares: the Principal a good token yields, the AuthError a bad
one raises, and the claim checks layered on PyJWT (which cannot take an injected clock)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import jwt

from domain.inputs import clean_line, line_problem

Reason = Literal[
    "malformed",  # not a JWT at all, or a claim of the wrong type
    "disallowed_alg",  # `alg` outside the configured allow-list (including `none`)
    "unknown_key",  # no published key has the token's `kid`
    "invalid_signature",
    "expired",
    "not_yet_valid",  # `nbf` or `iat` in the future beyond the leeway
    "invalid_claims",  # wrong `iss` / `aud`, or a required claim missing
    "wrong_session",  # a stream ticket presented for another session
    "jwks_unavailable",  # the identity provider's keys could not be fetched
]

# The largest token we even try to parse: real ones are a few hundred bytes to a few KiB, and
# refusing early keeps base64 and JSON decoding of hostile input cheap.
MAX_TOKEN_CHARS = 16 * 1024
# A display name taken from a token is cut to what a guest may choose (api/schemas.py Name).
MAX_DISPLAY_NAME_CHARS = 80


@dataclass(frozen=True)
class Principal:
    """The user a verified token speaks for. ``user_id`` is the JWT ``sub``."""

    user_id: str
    display_name: str
    email: str | None


class AuthError(Exception):
    """A token was refused. ``reason`` and ``detail`` are for logs only: a client learns no more
    than one generic 401, so it cannot probe which check failed.

    AuthError
     └── JwksUnavailable   the keys could not be fetched: the token itself may be fine
    """

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail


class JwksUnavailable(AuthError):
    """The identity provider's key set could not be fetched (network, HTTP status, bad JSON).

    The token was never judged, so this is the server's failure, not the client's: answering
    503 with ``Retry-After`` rather than 401 keeps clients from discarding a good token.
    """

    def __init__(self, detail: str = "") -> None:
        super().__init__("jwks_unavailable", detail)


class Authenticator(Protocol):
    """Turns a bearer token into a Principal; one instance lives for the whole process."""

    async def authenticate(self, token: str) -> Principal: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class TokenRules:
    """What a token must satisfy besides its signature; each authenticator fixes one set.

    ``algorithms`` comes from configuration, never from the token header.
    """

    algorithms: tuple[str, ...]
    issuer: str
    audience: str
    require: tuple[str, ...]
    leeway_s: float
    # Off for identity providers: an Auth0 token may list several audiences, ours among them.
    strict_audience: bool = True


def decode(
    token: str, key: jwt.PyJWK | str | bytes, rules: TokenRules, *, now: float
) -> dict[str, Any]:
    """Verify signature, ``iss``, ``aud``, required claims and times at ``now``; return the
    claims."""
    _check_length(token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(rules.algorithms),
            issuer=rules.issuer,
            audience=rules.audience,
            options={
                "require": list(rules.require),
                "strict_aud": rules.strict_audience,
                # PyJWT checks times against the real clock; check_times uses ours instead.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError as error:  # before DecodeError: it is a subclass
        raise AuthError("invalid_signature") from error
    except jwt.InvalidAlgorithmError as error:
        raise AuthError("disallowed_alg", str(error)) from error
    except (
        jwt.InvalidAudienceError,
        jwt.InvalidIssuerError,
        jwt.MissingRequiredClaimError,
    ) as error:
        raise AuthError("invalid_claims", str(error)) from error
    except jwt.PyJWTError as error:  # DecodeError, a non-string `sub` or `jti`, bad `crit`, ...
        raise AuthError("malformed", str(error)) from error
    check_times(claims, now=now, leeway_s=rules.leeway_s)
    return claims


def unverified_header(token: str) -> dict[str, Any]:
    """The token's header, unverified: only to choose a key, never to trust."""
    _check_length(token)
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise AuthError("malformed", str(error)) from error


def check_times(claims: Mapping[str, Any], *, now: float, leeway_s: float) -> None:
    """Refuse a token past ``exp``, or before ``nbf`` / ``iat``, allowing ``leeway_s`` of skew."""
    exp = _numeric_date(claims, "exp")
    if exp is not None and now >= exp + leeway_s:
        raise AuthError("expired")
    for name in ("nbf", "iat"):
        moment = _numeric_date(claims, name)
        if moment is not None and moment > now + leeway_s:
            raise AuthError("not_yet_valid", name)


def principal_from(claims: Mapping[str, Any]) -> Principal:
    """Build the Principal: display name from ``name``, else ``email``, else ``nickname``, else
    the ``sub`` itself, so a user always has something to show.

    The identity provider, not the player, wrote these claims, so an odd name is cleaned
    rather than refused (control characters and lone surrogates dropped, cut to 80
    characters); a ``sub`` holding such characters is refused, since cleaning it would name
    another user.
    """
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise AuthError("invalid_claims", "sub must be a non-empty string")
    if problem := line_problem(user_id):
        raise AuthError("invalid_claims", f"sub {problem}")
    email = _text(claims, "email")
    display_name = _text(claims, "name") or email or _text(claims, "nickname") or user_id
    return Principal(user_id=user_id, display_name=display_name, email=email)


def _check_length(token: str) -> None:
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("malformed", "token too long")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int subclass, and PyJWT would also accept digit strings; RFC 7519 says number.
    # Python's JSON parser also yields NaN and Infinity, which would never expire.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError("malformed", f"{name} must be a finite number")
    return float(value)


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if not isinstance(value, str):
        return None
    return clean_line(value)[:MAX_DISPLAY_NAME_CHARS].strip() or None
