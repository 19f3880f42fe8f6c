"""How the service is run: the narrator provider path, identity-provider mode, CORS, the token CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PLAYER, seat_table
from tests.support.api import running
from tests.support.fake_llm import Answer, FakeLLM, Status
from tests.support.jwks_server import JwksServer, RsaSigningKey
from tests.support.stores import StoreConfig

ROOT = Path(__file__).resolve().parents[2]


def test_turns_are_narrated_by_the_configured_provider(sqlite_store: StoreConfig) -> None:
    with FakeLLM() as llm:
        llm.always(Answer(text='{"narrative": "Rain falls.", "player_options": ["Wait"]}'))
        with running(sqlite_store, llm_base_url=llm.base_url) as service:
            table = seat_table(service)
            history = service.call("GET", f"/api/sessions/{table.session_id}/history", PLAYER)
        prompt = llm.requests[0].json["messages"]
    reply = history.json()["messages"][-1]
    assert reply["text"] == "Rain falls."
    assert reply["player_options"] == ["Wait"]
    assert reply["provider"] == "openai-compatible"
    assert "I look around" in prompt[-1]["content"]


def test_a_provider_that_keeps_failing_leaves_a_retryable_failed_turn(
    sqlite_store: StoreConfig,
) -> None:
    with FakeLLM() as llm:
        llm.always(Status(500))
        with running(sqlite_store, llm_base_url=llm.base_url, llm_max_attempts=2) as service:
            table = seat_table(service)
            path = f"/api/sessions/{table.session_id}"
            failed = service.call("GET", f"{path}/history", PLAYER).json()["messages"][-1]
            llm.always(Answer(text="At last, an answer."))
            retry = service.call("POST", f"{path}/turns/{table.turn_id}/retry", PLAYER)
            service.narrated()
            after = service.call("GET", f"{path}/history", PLAYER).json()["messages"]
    assert failed["kind"] == "narration_failed"
    assert failed["structured"] == {"error_kind": "server_error", "attempts": 2}
    assert retry.status_code == 202
    assert [m["kind"] for m in after] == ["action", "narration"]
    assert after[-1]["text"] == "At last, an answer."


def test_a_narration_that_trickles_past_the_deadline_fails_as_a_timeout(
    sqlite_store: StoreConfig,
) -> None:
    with FakeLLM() as llm:
        llm.always(Answer(text="one two three four five six", stream=True, chunk_delay_s=0.5))
        with running(
            sqlite_store, llm_base_url=llm.base_url, narration_deadline_seconds=1
        ) as service:
            table = seat_table(service)
            last = service.call("GET", f"/api/sessions/{table.session_id}/history", PLAYER)
    assert last.json()["messages"][-1]["structured"]["error_kind"] == "timeout"


@pytest.fixture
def identity_provider() -> tuple[JwksServer, RsaSigningKey]:
    key = RsaSigningKey.generate("key-1")
    server = JwksServer(key)
    server.start()
    yield server, key  # type: ignore[misc]
    server.stop()


def test_identity_provider_tokens_work_and_guests_are_off_in_oidc_mode(
    sqlite_store: StoreConfig, identity_provider: tuple[JwksServer, RsaSigningKey]
) -> None:
    server, key = identity_provider
    issuer, audience = "https://gaia.example.auth0.com/", "https://api.gaia.example"
    now = int(time.time())
    token = key.sign(
        {
            "sub": "auth0|ada",
            "name": "Ada",
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        },
        kid="key-1",
    )
    with running(
        sqlite_store,
        auth_mode="oidc",
        oidc_issuer=issuer,
        oidc_audience=audience,
        oidc_jwks_url=server.url,
    ) as service:
        headers = {"Authorization": f"Bearer {token}"}
        created = service.client.post("/api/campaigns/new", json={}, headers=headers)
        guest = service.client.post("/api/auth/guest", json={"display_name": "Eve"})
        forged = service.client.get("/api/sessions", headers={"Authorization": "Bearer x.y.z"})
    assert created.status_code == 201
    assert guest.status_code == 404
    assert forged.status_code == 401


def test_cors_allows_exactly_the_configured_origins(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store, cors_origins="https://play.gaia.example") as service:
        allowed = service.client.options(
            "/api/sessions",
            headers={
                "Origin": "https://play.gaia.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = service.client.options(
            "/api/sessions",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://play.gaia.example"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.slow
def test_the_cli_prints_a_token_the_service_accepts(sqlite_store: StoreConfig) -> None:
    env = {"GAIA_DATA_DIR": str(sqlite_store.data_dir), "PATH": "/usr/bin:/bin"}
    printed = subprocess.run(
        [sys.executable, "-m", "api", "token", "Scripted"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    secret = (sqlite_store.data_dir / "jwt-secret").read_text().strip()
    with running(sqlite_store, jwt_secret=secret) as service:
        answer = service.client.get("/api/sessions", headers={"Authorization": f"Bearer {printed}"})
    assert answer.status_code == 200
