"""Mode "oidc": RS256 access tokens from an identity provider (Auth0 and the like), verified with
the provider's published JWKS, which is fetched with async httpx into one TTL cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import httpx
import jwt

from api.auth.base import (
    AuthError,
    JwksUnavailable,
    Principal,
    TokenRules,
    decode,
    principal_from,
    unverified_header,
)

logger = logging.getLogger(__name__)

# A request waiting on authentication should fail fast rather than hang on a slow provider.
_FETCH_TIMEOUT_S = 5.0
# Only asymmetric algorithms: an HMAC "secret" taken from a public key is the classic confusion
# attack, and `none` is no signature at all.
_ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OidcAuthenticator:
    """Verifies provider-issued tokens: ``alg`` from the configured allow-list, the key by ``kid``
    from the JWKS, then exact ``iss``, ``aud``, and ``exp`` / ``nbf`` / ``iat`` within leeway.

    Create one per process and share it: it holds the key cache. Keys are refetched when the
    cache is older than ``jwks_ttl_s``, or when a token names an unknown ``kid`` (key rotation);
    fetches happen at most once per ``min_refetch_interval_s`` and concurrent callers share one.
    If a refresh fails, the last good keys keep serving for ``stale_if_error_s`` past their TTL,
    so a blip at the provider does not refuse every user.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        http: httpx.AsyncClient | None = None,
        algorithms: Sequence[str] = ("RS256",),
        jwks_ttl_s: float = 600,
        min_refetch_interval_s: float = 30,
        leeway_s: float = 30,
        stale_if_error_s: float = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        refused = set(algorithms) - _ASYMMETRIC_ALGORITHMS
        if refused or not algorithms:
            raise ValueError(
                f"OIDC algorithms must be a non-empty list of asymmetric ones; got {algorithms!r}"
            )
        self._rules = TokenRules(
            algorithms=tuple(algorithms),
            issuer=issuer,  # compared exactly: Auth0's ends with a slash, so configure it so
            audience=audience,
            require=("exp", "iat", "iss", "aud", "sub"),
            leeway_s=leeway_s,
            strict_audience=False,
        )
        self._jwks_url = jwks_url
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._ttl_s = jwks_ttl_s
        self._min_interval_s = min_refetch_interval_s
        self._stale_if_error_s = stale_if_error_s
        self._clock = clock

        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # clock time of the last successful fetch
        self._attempted_at: float | None = None  # ... of the last completed attempt
        self._last_attempt_failed = False
        self._attempts = 0  # completed attempts: tells a caller that waited whether one happened
        self._lock = asyncio.Lock()

    async def authenticate(self, token: str) -> Principal:
        """Return the token's Principal, or raise AuthError (JwksUnavailable if keys are out of
        reach)."""
        # Reject what cannot be ours before touching the network, so junk cannot force fetches.
        header = unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._rules.algorithms:
            raise AuthError("disallowed_alg", repr(alg))
        if not isinstance(kid, str):
            raise AuthError("unknown_key", "token has no kid")
        key = await self._signing_key(kid)
        claims = decode(token, key, self._rules, now=self._clock())
        return principal_from(claims)

    async def aclose(self) -> None:
        """Close the HTTP client if this authenticator created it."""
        if self._owns_http:
            await self._http.aclose()

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        now = self._clock()
        if self._is_fresh(now) and (key := self._keys.get(kid)) is not None:
            return key
        try:
            await self._refresh()
        except JwksUnavailable:
            key = self._keys.get(kid)
            if key is not None and self._may_serve_stale(now):
                return key
            raise
        key = self._keys.get(kid)
        if key is None:
            raise AuthError("unknown_key", kid)
        return key

    async def _refresh(self) -> None:
        """Fetch the key set, unless a fetch completed while we waited for the lock or less than
        ``min_refetch_interval_s`` ago; then share that attempt's outcome."""
        seen = self._attempts
        async with self._lock:
            now = self._clock()
            recent = (
                self._attempted_at is not None and now - self._attempted_at < self._min_interval_s
            )
            if self._attempts != seen or recent:
                if self._last_attempt_failed:
                    raise JwksUnavailable("the last fetch failed; not retrying yet")
                return
            # Recorded only once the fetch completes: if the caller is cancelled mid-fetch,
            # the callers waiting behind it fetch for themselves.
            try:
                keys = await self._fetch()
            except JwksUnavailable:
                self._record_attempt(now, failed=True)
                raise
            self._keys = keys
            self._fetched_at = now
            self._record_attempt(now, failed=False)

    def _record_attempt(self, now: float, *, failed: bool) -> None:
        self._attempted_at = now
        self._last_attempt_failed = failed
        self._attempts += 1

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            response = await self._http.get(self._jwks_url, timeout=_FETCH_TIMEOUT_S)
            response.raise_for_status()
            document = response.json()
            if not isinstance(document, dict):
                raise ValueError("the JWKS is not a JSON object")
            key_set = jwt.PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            logger.warning("JWKS fetch from %s failed: %r", self._jwks_url, error)
            raise JwksUnavailable(repr(error)) from error
        # Only signing keys for an allowed algorithm; anything else could only be misused.
        keys = {
            key.key_id: key
            for key in key_set
            if key.key_id
            and key.public_key_use in (None, "sig")
            and key.algorithm_name in self._rules.algorithms
        }
        logger.info("JWKS fetched from %s: kids %s", self._jwks_url, sorted(keys))
        return keys

    def _is_fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._ttl_s

    def _may_serve_stale(self, now: float) -> bool:
        return (
            self._fetched_at is not None
            and now - self._fetched_at < self._ttl_s + self._stale_if_error_s
        )
