"""Which address a request counts under, on the service as `python -m api serve` runs it: the
socket's peer unless GAIA_TRUST_PROXY_HEADERS is on, whatever X-Forwarded-For says. Observed
through the per-address invite-accept limit (one accept per minute per address here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.auth import LocalAuthenticator
from tests.support.server_process import ServerProcess, server_process
from tests.support.stores import StoreConfig

pytestmark = pytest.mark.slow

SECRET = "client-address-test-secret-" + "k" * 32
UNKNOWN_TOKEN = "not-a-real-invite-token"


def start(store: StoreConfig, tmp_path: Path, *, trust: bool) -> Iterator[ServerProcess]:
    env = {
        "GAIA_DATA_DIR": str(store.data_dir),
        "GAIA_JWT_SECRET": SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
        "GAIA_TRUST_PROXY_HEADERS": "true" if trust else "false",
        "GAIA_INVITE_ACCEPTS_PER_ADDRESS_PER_MINUTE": "1",
        "GAIA_INVITE_ACCEPTS_PER_USER_PER_MINUTE": "100",
    }
    with server_process(env, tmp_path / "server.log") as server:
        yield server


@pytest.fixture
def untrusting(sqlite_store: StoreConfig, tmp_path: Path) -> Iterator[ServerProcess]:
    yield from start(sqlite_store, tmp_path, trust=False)


@pytest.fixture
def trusting(sqlite_store: StoreConfig, tmp_path: Path) -> Iterator[ServerProcess]:
    yield from start(sqlite_store, tmp_path, trust=True)


def accept_from(server: ServerProcess, user: str, forwarded_for: str) -> int:
    """An accept of an unknown token (counted before it is judged); its status."""
    token = LocalAuthenticator(SECRET).issue(user, user)
    answer = httpx.post(
        f"{server.base_url}/api/invites/accept",
        json={"token": UNKNOWN_TOKEN},
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": forwarded_for},
        timeout=10,
    )
    return answer.status_code


def test_forwarded_for_is_ignored_unless_proxy_headers_are_trusted(
    untrusting: ServerProcess,
) -> None:
    assert accept_from(untrusting, "user-a", "1.2.3.4") != 429
    # Another claimed address from the same socket: still 127.0.0.1, whose one accept is spent.
    assert accept_from(untrusting, "user-b", "5.6.7.8") == 429


def test_forwarded_for_names_the_address_when_proxy_headers_are_trusted(
    trusting: ServerProcess,
) -> None:
    assert accept_from(trusting, "user-a", "1.2.3.4") != 429
    assert accept_from(trusting, "user-b", "5.6.7.8") != 429
    assert accept_from(trusting, "user-c", "1.2.3.4") == 429
