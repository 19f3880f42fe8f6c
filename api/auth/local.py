"""Mode "local": HS256 access tokens signed with one shared secret, for the embedded default and
guests who play without an identity provider; also where that secret comes from on first run."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from api.auth.base import Principal, TokenRules, check_times, decode, principal_from
from api.keyfiles import load_or_create

SECRET_FILE_NAME = "jwt-secret"  # noqa: S105 - a file name, not a secret
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes).
MIN_SECRET_BYTES = 32
# Every instance signs and checks with its own clock; this absorbs small skews between them.
CLOCK_SKEW_S = 5.0
VERIFIED_TOKENS = 4096  # tokens remembered as verified, the least recently verified dropped first


class LocalAuthenticator:
    """Issues and verifies our own HS256 access tokens (``alg`` pinned, ``iss`` and ``aud``
    compared exactly). A stream ticket carries another audience, so it is refused here."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = "gaia-local",
        audience: str = "gaia",
        token_ttl_s: int = 30 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = check_secret(secret)
        self._issuer = issuer
        self._audience = audience
        self._rules = TokenRules(
            algorithms=("HS256",),  # pinned: an RS256 or `none` token is refused outright
            issuer=issuer,
            audience=audience,
            require=("exp", "iat", "sub", "iss", "aud"),
            leeway_s=CLOCK_SKEW_S,
        )
        self._token_ttl_s = token_ttl_s
        self._clock = clock
        # Tokens whose signature and claims were verified, with their claims: the signature
        # check is the dearest part of a request's authentication, and a client sends the same
        # token on every request. The key never changes, so only the times need checking again.
        self._verified: OrderedDict[str, tuple[dict[str, Any], Principal]] = OrderedDict()

    def issue(self, user_id: str, display_name: str) -> str:
        """Sign an access token for ``user_id``, valid for ``token_ttl_s`` from now."""
        if not user_id:
            raise ValueError("user_id must not be empty")
        now = int(self._clock())
        claims = {
            "sub": user_id,
            "name": display_name,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._token_ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    async def authenticate(self, token: str) -> Principal:
        """Return the token's Principal, or raise AuthError."""
        now = self._clock()
        known = self._verified.get(token)
        if known is not None:
            claims, principal = known
            check_times(claims, now=now, leeway_s=self._rules.leeway_s)
            return principal
        claims = decode(token, self._key, self._rules, now=now)
        principal = principal_from(claims)
        self._verified[token] = (claims, principal)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return principal

    async def aclose(self) -> None:
        """Nothing to release; present to satisfy the Authenticator protocol."""


def new_guest_id() -> str:
    """A fresh user id for a guest: ``guest:`` and 128 random bits, URL-safe."""
    return "guest:" + secrets.token_urlsafe(16)


def check_secret(secret: str) -> bytes:
    """Return the secret as key bytes, refusing one too short to sign safely."""
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long (got {len(key)}); "
            "unset GAIA_JWT_SECRET to have one generated into the data directory"
        )
    return key


def load_or_create_secret(data_dir: Path) -> str:
    """Read ``data_dir/jwt-secret``, or create it with 256 random bits and mode 0600 (once, even
    when several processes start at the same moment)."""
    return load_or_create(
        data_dir / SECRET_FILE_NAME,
        lambda: secrets.token_urlsafe(32),
        lambda secret: len(secret.encode()) >= MIN_SECRET_BYTES,
        what=f"secret (empty or shorter than {MIN_SECRET_BYTES} bytes)",
        setting="GAIA_JWT_SECRET",
    )
