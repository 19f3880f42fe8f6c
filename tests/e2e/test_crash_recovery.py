"""Kill -9 while narrating: after a restart every acknowledged turn is in history and ends with
exactly one narration (PostgreSQL, the production store; a real server process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx

from api.auth import LocalAuthenticator
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.session import CampaignSession
from tests.support.api import free_port
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.stores import StoreConfig

SECRET = "crash-test-secret-" + "y" * 32
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def server(store: StoreConfig, llm_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = os.environ | {
        "GAIA_DATABASE_URL": store.database_url or "",
        "GAIA_DATA_DIR": str(store.data_dir),
        "GAIA_JWT_SECRET": SECRET,
        "GAIA_LLM_BASE_URL": llm_url,
        "GAIA_LLM_MAX_ATTEMPTS": "2",
        "GAIA_RESUME_SWEEP_SECONDS": "1",
        "PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _ready(port), timeout=30, what="the server to be ready")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_server_killed_while_narrating_loses_no_turn_and_narrates_each_once(
    postgres_store: StoreConfig,
) -> None:
    port = free_port()
    tokens = LocalAuthenticator(SECRET)
    acknowledged: dict[str, list[str]] = {}
    with FakeLLM() as llm:
        llm.always(Answer(text="The wind howls.", delay_s=0.25))
        with server(postgres_store, llm.base_url, port) as first:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=10) as client:
                for n in range(5):
                    headers = {"Authorization": f"Bearer {tokens.issue(f'user-{n}', f'U{n}')}"}
                    sid = client.post("/api/campaigns/new", json={}, headers=headers).json()[
                        "session_id"
                    ]
                    acknowledged[sid] = []
                    for t in range(10):
                        answer = client.post(
                            f"/api/sessions/{sid}/turns",
                            headers=headers,
                            json={"text": f"turn {t}"},
                        )
                        assert answer.status_code == 202
                        acknowledged[sid].append(answer.json()["turn_id"])
            llm.wait_for_requests(3, timeout=10)  # narrations are under way
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        with server(postgres_store, llm.base_url, port):
            app = open_sessions(
                store_env(postgres_store.database_url, postgres_store.data_dir, name="gaia")
            )
            try:
                wait_until(
                    lambda: all(not app.get(UUID(sid)).pending_turns() for sid in acknowledged),
                    timeout=60,
                    what="every pending turn to be narrated",
                )
                for sid, turn_ids in acknowledged.items():
                    events = list(app.events.get(UUID(sid)))
                    submitted = [
                        str(e.turn_id)
                        for e in events
                        if isinstance(e, CampaignSession.TurnSubmitted)
                    ]
                    narrated = Counter(
                        str(e.turn_id)
                        for e in events
                        if isinstance(e, CampaignSession.NarrationCompleted)
                    )
                    assert submitted == turn_ids
                    assert all(narrated[turn_id] == 1 for turn_id in turn_ids), narrated
            finally:
                app.close()
