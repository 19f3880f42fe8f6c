"""Mode "local": our own HS256 access tokens, guest ids, and the secret generated on first run."""

from __future__ import annotations

import base64
import json
import stat
import threading
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import AuthError, LocalAuthenticator, load_or_create_secret, new_guest_id
from api.auth.local import CLOCK_SKEW_S
from tests.support.clock import FakeClock

SECRET = "s" * 32 + "-local-test-secret"
OTHER_SECRET = "o" * 32 + "-another-test-secret"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY_S = 24 * 3600


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def auth(clock: FakeClock) -> LocalAuthenticator:
    return LocalAuthenticator(SECRET, token_ttl_s=DAY_S, clock=clock)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def refused(auth: LocalAuthenticator, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await auth.authenticate(token)
    return caught.value


# --- tokens -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_issued_token_authenticates_as_its_user(auth: LocalAuthenticator) -> None:
    principal = await auth.authenticate(auth.issue("guest:abc", "Alice"))

    assert principal.user_id == "guest:abc"
    assert principal.display_name == "Alice"
    assert principal.email is None


def test_issued_token_carries_the_documented_claims(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    token = auth.issue("guest:abc", "Alice")

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims == {
        "sub": "guest:abc",
        "name": "Alice",
        "iss": "gaia-local",
        "aud": "gaia",
        "iat": int(T0),
        "nbf": int(T0),
        "exp": int(T0) + DAY_S,
    }


@pytest.mark.asyncio
async def test_token_signed_on_another_instance_with_the_same_secret_is_accepted(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    token = LocalAuthenticator(SECRET, clock=clock).issue("guest:abc", "Alice")

    assert (await auth.authenticate(token)).user_id == "guest:abc"


@pytest.mark.asyncio
async def test_token_with_a_tampered_payload_is_refused(auth: LocalAuthenticator) -> None:
    header, payload, signature = auth.issue("guest:abc", "Alice").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = b64url(json.dumps({**claims, "sub": "guest:admin"}).encode())

    error = await refused(auth, f"{header}.{forged}.{signature}")

    assert error.reason == "invalid_signature"


@pytest.mark.asyncio
async def test_token_is_accepted_until_its_expiry(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    token = auth.issue("guest:abc", "Alice")
    clock.advance(DAY_S - 1)

    assert (await auth.authenticate(token)).user_id == "guest:abc"


@pytest.mark.asyncio
async def test_token_is_refused_once_expired(auth: LocalAuthenticator, clock: FakeClock) -> None:
    token = auth.issue("guest:abc", "Alice")
    clock.advance(DAY_S + CLOCK_SKEW_S)

    assert (await refused(auth, token)).reason == "expired"


@pytest.mark.asyncio
async def test_token_verified_before_is_still_refused_once_expired(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    token = auth.issue("guest:abc", "Alice")
    assert (await auth.authenticate(token)).user_id == "guest:abc"  # remembered as verified
    clock.advance(DAY_S + CLOCK_SKEW_S)

    assert (await refused(auth, token)).reason == "expired"


@pytest.mark.asyncio
async def test_token_issued_in_the_future_beyond_the_clock_skew_is_refused(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    ahead = LocalAuthenticator(SECRET, clock=lambda: clock() + CLOCK_SKEW_S + 60)

    error = await refused(auth, ahead.issue("guest:abc", "Alice"))

    assert error.reason == "not_yet_valid"


@pytest.mark.asyncio
async def test_token_signed_with_another_secret_is_refused(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    token = LocalAuthenticator(OTHER_SECRET, clock=clock).issue("guest:abc", "Alice")

    assert (await refused(auth, token)).reason == "invalid_signature"


@pytest.mark.asyncio
async def test_token_from_another_issuer_is_refused(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    other = LocalAuthenticator(SECRET, issuer="someone-else", clock=clock)

    error = await refused(auth, other.issue("guest:abc", "Alice"))

    assert error.reason == "invalid_claims"


@pytest.mark.asyncio
async def test_token_for_another_audience_is_refused(
    auth: LocalAuthenticator, clock: FakeClock
) -> None:
    other = LocalAuthenticator(SECRET, audience="another-service", clock=clock)

    error = await refused(auth, other.issue("guest:abc", "Alice"))

    assert error.reason == "invalid_claims"


@pytest.mark.asyncio
async def test_rs256_token_is_refused_because_the_algorithm_is_pinned(
    auth: LocalAuthenticator,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(auth.issue("guest:abc", "Alice"), options={"verify_signature": False})

    error = await refused(auth, jwt.encode(claims, key, algorithm="RS256"))

    assert error.reason == "disallowed_alg"


@pytest.mark.asyncio
async def test_alg_none_token_is_refused(auth: LocalAuthenticator) -> None:
    claims = jwt.decode(auth.issue("guest:abc", "Alice"), options={"verify_signature": False})
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())

    error = await refused(auth, f"{header}.{b64url(json.dumps(claims).encode())}.")

    assert error.reason == "disallowed_alg"


@pytest.mark.asyncio
@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "iss", "aud"])
async def test_token_missing_a_required_claim_is_refused(
    auth: LocalAuthenticator, missing: str
) -> None:
    claims = jwt.decode(auth.issue("guest:abc", "Alice"), options={"verify_signature": False})
    del claims[missing]

    error = await refused(auth, jwt.encode(claims, SECRET, algorithm="HS256"))

    assert error.reason == "invalid_claims"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b", "a.b.c", "x" * 20_000], ids=lambda token: token[:8] or "empty"
)
async def test_malformed_token_is_refused(auth: LocalAuthenticator, token: str) -> None:
    assert (await refused(auth, token)).reason == "malformed"


def test_secret_shorter_than_32_bytes_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        LocalAuthenticator("too-short")


def test_issuing_for_an_empty_user_id_is_refused(auth: LocalAuthenticator) -> None:
    with pytest.raises(ValueError, match="user_id"):
        auth.issue("", "Nobody")


# --- guest ids --------------------------------------------------------------------------------


def test_guest_ids_are_prefixed_url_safe_and_carry_at_least_96_random_bits() -> None:
    guest_id = new_guest_id()
    prefix, _, random_part = guest_id.partition(":")

    assert prefix == "guest"
    assert len(base64.urlsafe_b64decode(random_part + "==")) * 8 >= 96
    assert random_part.replace("-", "").replace("_", "").isalnum()


def test_guest_ids_do_not_repeat() -> None:
    assert len({new_guest_id() for _ in range(1000)}) == 1000


# --- the generated secret ---------------------------------------------------------------------


def test_secret_is_created_on_first_call_and_read_back_on_later_ones(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    second = load_or_create_secret(tmp_path)

    assert first == second
    assert (tmp_path / "jwt-secret").read_text() == first


def test_created_secret_carries_at_least_256_random_bits(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path)

    assert len(base64.urlsafe_b64decode(secret + "==")) * 8 >= 256


def test_secret_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path)

    assert stat.S_IMODE((tmp_path / "jwt-secret").stat().st_mode) == 0o600


def test_existing_secret_file_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text(OTHER_SECRET + "\n")

    assert load_or_create_secret(tmp_path) == OTHER_SECRET


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    # Threads stand in for processes: O_EXCL arbitrates between them the same way.
    starters = 16
    barrier = threading.Barrier(starters)
    secrets: list[str] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait()
        secret = load_or_create_secret(tmp_path)
        with lock:
            secrets.append(secret)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(secrets) == starters
    assert len(set(secrets)) == 1


@pytest.mark.asyncio
async def test_generated_secret_signs_tokens_that_verify_after_a_restart(
    tmp_path: Path, clock: FakeClock
) -> None:
    before = LocalAuthenticator(load_or_create_secret(tmp_path), clock=clock)
    after = LocalAuthenticator(load_or_create_secret(tmp_path), clock=clock)

    assert (await after.authenticate(before.issue("guest:abc", "Alice"))).user_id == "guest:abc"
