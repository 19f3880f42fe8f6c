"""The access log of a real ``python -m api serve`` keeps URLs but not the secrets they carry:
stream and media tickets (``?ticket=``), and access tokens a client put in a URL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import bearer, store_env
from tests.support.server_process import server_process, wait_until
from tests.support.stores import StoreConfig


def access_lines(log: Path) -> list[str]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [entry["message"] for entry in entries if entry.get("logger") == "uvicorn.access"]


@pytest.mark.slow
def test_tickets_and_tokens_in_urls_are_redacted_in_the_access_log(
    store: StoreConfig, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with server_process(store_env(store, GAIA_LOG_LEVEL="INFO"), log) as server:
        owner = bearer("user-owner")
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            created = client.post("/api/campaigns/new", headers=owner, json={"title": "Logs"})
            sid = created.json()["session_id"]
            media = client.post(f"/api/sessions/{sid}/media-ticket", headers=owner)
            stream = client.post(f"/api/sessions/{sid}/stream-ticket", headers=owner)
            secrets = {
                "media ticket": media.json()["ticket"],
                "stream ticket": stream.json()["ticket"],
                "access token": owner["Authorization"].removeprefix("Bearer "),
            }
            for url in (
                f"/api/images/missing.png?ticket={secrets['media ticket']}&size=2",
                f"/api/sessions/{sid}/events?after=99&ticket={secrets['stream ticket']}",
                f"/api/sessions/{sid}/events?access_token={secrets['access token']}",
                f"/api/sessions/{sid}/events?%74oken={secrets['access token']}",
            ):
                assert client.get(url).status_code in (401, 404, 409), url
        wait_until(
            lambda: (
                sum("GET /api/images/" in line or "/events?" in line for line in access_lines(log))
                == 4
            ),
            timeout=10,
            what="the access log lines of the four requests",
        )
    written = log.read_text()
    for what, secret in secrets.items():
        assert secret not in written, what
    lines = access_lines(log)
    assert any("/api/images/missing.png?ticket=[redacted]&size=2" in line for line in lines)
    assert any(f"/api/sessions/{sid}/events?after=99&ticket=[redacted]" in line for line in lines)
    assert any("access_token=[redacted]" in line for line in lines)
    assert any("%74oken=[redacted]" in line for line in lines)
