"""OidcAuthenticator against a real JWKS endpoint on loopback, with keys generated per run."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from api.auth import AuthError, JwksUnavailable
from api.auth.oidc import OidcAuthenticator
from tests.support.clock import FakeClock
from tests.support.jwks_server import JwksServer, RsaSigningKey

ISSUER = "https://gaia-test.eu.auth0.com/"  # Auth0's issuer ends with a slash
AUDIENCE = "https://api.gaia.example"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TTL_S = 600.0
INTERVAL_S = 30.0
LEEWAY_S = 30.0
STALE_S = 600.0


@pytest.fixture(scope="module")
def key_a() -> RsaSigningKey:
    return RsaSigningKey.generate("key-a")


@pytest.fixture(scope="module")
def key_b() -> RsaSigningKey:
    return RsaSigningKey.generate("key-b")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def jwks(key_a: RsaSigningKey) -> Iterator[JwksServer]:
    with JwksServer(key_a) as server:
        yield server


@pytest_asyncio.fixture
async def auth(jwks: JwksServer, clock: FakeClock) -> AsyncIterator[OidcAuthenticator]:
    authenticator = OidcAuthenticator(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_url=jwks.url,
        jwks_ttl_s=TTL_S,
        min_refetch_interval_s=INTERVAL_S,
        leeway_s=LEEWAY_S,
        stale_if_error_s=STALE_S,
        clock=clock,
    )
    yield authenticator
    await authenticator.aclose()


def claims(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    """Valid access-token claims at the clock's time; an override of None removes the claim."""
    now = int(clock())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "auth0|alice",
        "name": "Alice",
        "email": "alice@example.com",
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Any = None) -> str:
    """A compact JWT built by hand, for tokens PyJWT rightly refuses to produce."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


async def refused(auth: OidcAuthenticator, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(token)
    return caught.value


# --- accepted tokens and the key cache -------------------------------------------------------


@pytest.mark.asyncio
async def test_valid_token_yields_the_principal_named_in_its_claims(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    principal = await auth.authenticate(key_a.sign(claims(clock)))

    assert principal.user_id == "auth0|alice"
    assert principal.display_name == "Alice"
    assert principal.email == "alice@example.com"


@pytest.mark.asyncio
async def test_token_listing_several_audiences_including_ours_is_accepted(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, aud=[AUDIENCE, f"{ISSUER}userinfo"]))

    assert (await auth.authenticate(token)).user_id == "auth0|alice"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"email": "alice@example.com", "nickname": "ally"}, "alice@example.com"),
        ({"nickname": "ally"}, "ally"),
        ({}, "auth0|alice"),
    ],
    ids=["email", "nickname", "sub"],
)
async def test_display_name_falls_back_to_email_then_nickname_then_sub(
    auth: OidcAuthenticator,
    key_a: RsaSigningKey,
    clock: FakeClock,
    present: dict[str, str],
    expected: str,
) -> None:
    token = key_a.sign(claims(clock, **{"name": None, "email": None, **present}))

    assert (await auth.authenticate(token)).display_name == expected


@pytest.mark.asyncio
async def test_keys_are_fetched_once_and_then_served_from_the_cache(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    for _ in range(3):
        await auth.authenticate(key_a.sign(claims(clock)))
        clock.advance(TTL_S / 4)

    assert jwks.fetch_count == 1


@pytest.mark.asyncio
async def test_concurrent_first_requests_share_one_fetch(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock))

    principals = await asyncio.gather(*(auth.authenticate(token) for _ in range(10)))

    assert {principal.user_id for principal in principals} == {"auth0|alice"}
    assert jwks.fetch_count == 1


@pytest.mark.asyncio
async def test_callers_waiting_on_a_fetch_share_it_even_without_a_refetch_interval(
    jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    auth = OidcAuthenticator(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks.url, min_refetch_interval_s=0, clock=clock
    )
    token = key_a.sign(claims(clock))
    try:
        await asyncio.gather(*(auth.authenticate(token) for _ in range(10)))
    finally:
        await auth.aclose()

    assert jwks.fetch_count == 1


@pytest.mark.asyncio
async def test_cache_older_than_the_ttl_is_refetched(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    clock.advance(TTL_S - 1)
    await auth.authenticate(key_a.sign(claims(clock)))
    assert jwks.fetch_count == 1

    clock.advance(2)
    await auth.authenticate(key_a.sign(claims(clock)))

    assert jwks.fetch_count == 2


@pytest.mark.asyncio
async def test_key_rotated_in_after_start_is_fetched_once_and_accepted(
    auth: OidcAuthenticator,
    jwks: JwksServer,
    key_a: RsaSigningKey,
    key_b: RsaSigningKey,
    clock: FakeClock,
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.publish(key_a, key_b)
    clock.advance(INTERVAL_S + 1)

    first = await auth.authenticate(key_b.sign(claims(clock)))
    second = await auth.authenticate(key_b.sign(claims(clock, sub="auth0|bob")))

    assert (first.user_id, second.user_id) == ("auth0|alice", "auth0|bob")
    assert jwks.fetch_count == 2


@pytest.mark.asyncio
async def test_concurrent_tokens_with_a_new_kid_share_one_refetch(
    auth: OidcAuthenticator,
    jwks: JwksServer,
    key_a: RsaSigningKey,
    key_b: RsaSigningKey,
    clock: FakeClock,
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.publish(key_a, key_b)
    clock.advance(INTERVAL_S + 1)
    token = key_b.sign(claims(clock))

    await asyncio.gather(*(auth.authenticate(token) for _ in range(10)))

    assert jwks.fetch_count == 2


@pytest.mark.asyncio
async def test_key_removed_from_the_jwks_is_refused_once_the_cache_expires(
    auth: OidcAuthenticator,
    jwks: JwksServer,
    key_a: RsaSigningKey,
    key_b: RsaSigningKey,
    clock: FakeClock,
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.publish(key_b)
    clock.advance(TTL_S + 1)

    error = await refused(auth, key_a.sign(claims(clock)))

    assert error.reason == "unknown_key"


# --- unknown keys and the refetch rate limit --------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_kid_is_refused_and_refetches_at_most_once_per_interval(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    clock.advance(INTERVAL_S + 1)
    ghost = key_a.sign(claims(clock), kid="ghost")

    reasons = [(await refused(auth, ghost)).reason for _ in range(5)]
    assert reasons == ["unknown_key"] * 5
    assert jwks.fetch_count == 2  # the first refusal refetched; the next four did not

    clock.advance(INTERVAL_S + 1)
    assert (await refused(auth, ghost)).reason == "unknown_key"
    assert jwks.fetch_count == 3


@pytest.mark.asyncio
async def test_new_kid_within_the_refetch_interval_is_refused_without_fetching(
    auth: OidcAuthenticator,
    jwks: JwksServer,
    key_a: RsaSigningKey,
    key_b: RsaSigningKey,
    clock: FakeClock,
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.publish(key_a, key_b)

    error = await refused(auth, key_b.sign(claims(clock)))

    assert error.reason == "unknown_key"
    assert jwks.fetch_count == 1


# --- forged and misused tokens ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_alg_none_token_is_refused_without_fetching_keys(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": key_a.kid}, claims(clock))

    assert (await refused(auth, token)).reason == "disallowed_alg"
    assert jwks.fetch_count == 0


@pytest.mark.asyncio
async def test_hs256_token_keyed_with_the_public_key_pem_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    # The classic confusion attack: the public key, which anyone can fetch, used as an HMAC
    # secret, hoping the verifier feeds its RSA key to HMAC because the header says HS256.
    pem = key_a.public_pem()
    token = forge(
        {"alg": "HS256", "typ": "JWT", "kid": key_a.kid},
        claims(clock),
        lambda signing_input: hmac.new(pem, signing_input, hashlib.sha256).digest(),
    )

    assert (await refused(auth, token)).reason == "disallowed_alg"


@pytest.mark.asyncio
async def test_algorithm_outside_the_configured_list_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock), algorithm="RS512")

    assert (await refused(auth, token)).reason == "disallowed_alg"


@pytest.mark.asyncio
async def test_token_signed_by_another_key_under_a_known_kid_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, key_b: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_b.sign(claims(clock), kid=key_a.kid)

    assert (await refused(auth, token)).reason == "invalid_signature"


@pytest.mark.asyncio
async def test_token_with_a_tampered_payload_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    header, _, signature = key_a.sign(claims(clock)).split(".")
    payload = b64url(json.dumps(claims(clock, sub="auth0|mallory")).encode())

    error = await refused(auth, f"{header}.{payload}.{signature}")

    assert error.reason == "invalid_signature"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "two.parts",
        "a.b.c",
        "x" * 20_000,
        f"{b64url(b'not json')}.{b64url(b'{}')}.",
        f"{b64url(b'[1, 2]')}.{b64url(b'{}')}.",
        f"{b64url(json.dumps({'alg': 'RS256', 'kid': 7}).encode())}.{b64url(b'{}')}.",
    ],
    ids=[
        "empty",
        "one-part",
        "two-parts",
        "bad-base64",
        "huge",
        "header-not-json",
        "header-not-object",
        "kid-not-string",
    ],
)
async def test_malformed_token_is_refused_without_fetching_keys(
    auth: OidcAuthenticator, jwks: JwksServer, token: str
) -> None:
    assert (await refused(auth, token)).reason == "malformed"
    assert jwks.fetch_count == 0


@pytest.mark.asyncio
async def test_token_without_a_kid_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = forge(
        {"alg": "RS256", "typ": "JWT"}, claims(clock), lambda data: b"unchecked signature"
    )

    assert (await refused(auth, token)).reason == "unknown_key"


# --- claims -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_expired_token_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, iat=int(clock()) - 7200, exp=int(clock()) - 3600))

    assert (await refused(auth, token)).reason == "expired"


@pytest.mark.asyncio
async def test_token_that_expired_within_the_leeway_is_accepted(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, exp=int(clock()) - int(LEEWAY_S) + 5))

    assert (await auth.authenticate(token)).user_id == "auth0|alice"


@pytest.mark.asyncio
async def test_token_expires_as_the_clock_passes_exp_and_the_leeway(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, exp=int(clock()) + 60))
    await auth.authenticate(token)

    clock.advance(60 + LEEWAY_S)

    assert (await refused(auth, token)).reason == "expired"


@pytest.mark.asyncio
async def test_token_not_yet_valid_beyond_the_leeway_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, nbf=int(clock()) + int(LEEWAY_S) + 60))

    assert (await refused(auth, token)).reason == "not_yet_valid"


@pytest.mark.asyncio
async def test_token_issued_in_the_future_beyond_the_leeway_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, iat=int(clock()) + int(LEEWAY_S) + 60))

    assert (await refused(auth, token)).reason == "not_yet_valid"


@pytest.mark.asyncio
async def test_token_for_another_audience_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, aud="https://other-api.example"))

    assert (await refused(auth, token)).reason == "invalid_claims"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "issuer",
    ["https://evil.example/", ISSUER.rstrip("/"), ISSUER.upper()],
    ids=["other-tenant", "no-trailing-slash", "other-case"],
)
async def test_token_from_another_issuer_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock, issuer: str
) -> None:
    token = key_a.sign(claims(clock, iss=issuer))

    assert (await refused(auth, token)).reason == "invalid_claims"


@pytest.mark.asyncio
@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "iss", "aud"])
async def test_token_missing_a_required_claim_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock, missing: str
) -> None:
    token = key_a.sign(claims(clock, **{missing: None}))

    assert (await refused(auth, token)).reason == "invalid_claims"


@pytest.mark.asyncio
async def test_token_with_an_empty_sub_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, sub=""))

    assert (await refused(auth, token)).reason == "invalid_claims"


@pytest.mark.asyncio
async def test_token_with_a_non_numeric_exp_is_refused(
    auth: OidcAuthenticator, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    token = key_a.sign(claims(clock, exp=str(int(clock()) + 3600)))

    assert (await refused(auth, token)).reason == "malformed"


# --- the provider out of reach ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_jwks_server_down_refuses_with_jwks_unavailable_then_recovers(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    jwks.stop()
    error = await refused(auth, key_a.sign(claims(clock)))
    assert isinstance(error, JwksUnavailable)
    assert error.reason == "jwks_unavailable"

    jwks.start()
    clock.advance(INTERVAL_S + 1)

    assert (await auth.authenticate(key_a.sign(claims(clock)))).user_id == "auth0|alice"


@pytest.mark.asyncio
async def test_failed_fetch_is_not_retried_within_the_interval(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    jwks.respond(503, b"try later")
    token = key_a.sign(claims(clock))

    reasons = [(await refused(auth, token)).reason for _ in range(3)]

    assert reasons == ["jwks_unavailable"] * 3
    assert jwks.fetch_count == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b"[]", b'{"keys": []}', b'{"keys": [{"kty": "RSA"}]}'],
    ids=["not-json", "not-an-object", "no-keys", "unusable-key"],
)
async def test_unusable_jwks_document_is_jwks_unavailable(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock, body: bytes
) -> None:
    jwks.respond(200, body)

    assert (await refused(auth, key_a.sign(claims(clock)))).reason == "jwks_unavailable"


@pytest.mark.asyncio
async def test_last_good_keys_keep_serving_while_a_refresh_fails(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.respond(503, b"")
    clock.advance(TTL_S + 1)

    principal = await auth.authenticate(key_a.sign(claims(clock)))

    assert principal.user_id == "auth0|alice"
    assert jwks.fetch_count == 2


@pytest.mark.asyncio
async def test_stale_keys_stop_serving_after_the_grace_period(
    auth: OidcAuthenticator, jwks: JwksServer, key_a: RsaSigningKey, clock: FakeClock
) -> None:
    await auth.authenticate(key_a.sign(claims(clock)))
    jwks.respond(503, b"")
    clock.advance(TTL_S + STALE_S + 1)

    assert (await refused(auth, key_a.sign(claims(clock)))).reason == "jwks_unavailable"


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithms", [("HS256",), ("RS256", "none"), ()], ids=["hmac", "none", "empty"]
)
def test_symmetric_none_or_empty_algorithm_lists_are_refused_at_construction(
    algorithms: tuple[str, ...],
) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        OidcAuthenticator(
            issuer=ISSUER, audience=AUDIENCE, jwks_url="http://127.0.0.1:9/", algorithms=algorithms
        )
