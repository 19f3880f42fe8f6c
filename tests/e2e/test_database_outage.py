"""PostgreSQL stops under load and comes back: the service answers 503 with Retry-After, fast,
while it is gone, serves again within seconds of its return without a restart, and loses no
acknowledged turn (a real server process on a cluster of the test's own)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from api.auth import LocalAuthenticator
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.session import CampaignSession
from tests.support.postgres import LocalCluster, stoppable_cluster
from tests.support.server_process import ServerProcess, server_process, wait_until

SECRET = "outage-test-secret-" + "z" * 32
MAX_REQUEST_S = 5.0
RECOVERY_S = 5.0

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Call:
    what: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all
    retry_after: str | None
    turn_id: str | None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class Load:
    """One client thread: reads and turn submits in a loop, every answer recorded."""

    def __init__(self, base_url: str, token: str, session_id: str) -> None:
        self.calls: list[Call] = []
        self._client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )
        self._sid = session_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._client.close()

    def count(self, since: float, status: int | None = None) -> int:
        return sum(1 for c in list(self.calls) if c.started >= since and status in (None, c.status))

    def _run(self) -> None:
        n = 0
        requests = [
            ("history", "GET", f"/api/sessions/{self._sid}/history", None),
            ("session", "GET", f"/api/sessions/{self._sid}", None),
            ("list", "GET", "/api/sessions", None),
            ("turn", "POST", f"/api/sessions/{self._sid}/turns", "turn"),
        ]
        while not self._stop.is_set():
            what, method, path, body = requests[n % len(requests)]
            n += 1
            started = time.monotonic()
            try:
                answer = self._client.request(
                    method, path, json={"text": f"turn {n}"} if body else None
                )
                status, retry_after = answer.status_code, answer.headers.get("Retry-After")
                turn_id = answer.json()["turn_id"] if status == 202 else None
            except httpx.HTTPError:
                status, retry_after, turn_id = 0, None, None
            self.calls.append(Call(what, started, time.monotonic(), status, retry_after, turn_id))
            self._stop.wait(0.01)  # pacing: a steady load, not a flood of instant 503s


@dataclass(frozen=True)
class StreamAnswer:
    status: int
    content_type: str
    lines: list[str]


def open_stream(base_url: str, token: str, sid: str, *, after: str) -> StreamAnswer:
    """Open the session's event stream as a reconnecting browser would, and read what it says
    until it ends or its first stored event after ``after`` arrives."""
    lines: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": after}
    with httpx.stream(
        "GET", f"{base_url}/api/sessions/{sid}/events", headers=headers, timeout=10
    ) as answer:
        for line in answer.iter_lines():
            lines.append(line)
            if line.startswith("id:"):
                break
        return StreamAnswer(answer.status_code, answer.headers.get("content-type", ""), lines)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with stoppable_cluster() as own:  # never the shared test server: this one gets stopped
        yield own


@pytest.fixture
def server(cluster: LocalCluster, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "GAIA_DATABASE_URL": cluster.url,
        "GAIA_DATA_DIR": str(tmp_path / "data"),
        "GAIA_JWT_SECRET": SECRET,
        # The load below submits turns back to back as one player: room for all of them under
        # the turn quotas (which stay on; tests/e2e/test_quotas.py tests the quotas).
        "GAIA_TURNS_PER_USER_PER_MINUTE": "100000",
        "GAIA_TURNS_PER_SESSION_PER_MINUTE": "100000",
        "GAIA_PENDING_TURNS_PER_SESSION": "100000",
    }
    with server_process(env, tmp_path / "server.log") as running:
        yield running


def test_a_database_outage_answers_503_fast_and_the_service_recovers_without_loss(
    cluster: LocalCluster, server: ServerProcess
) -> None:
    token = LocalAuthenticator(SECRET).issue("user-1", "Ada")
    created = httpx.post(
        f"{server.base_url}/api/campaigns/new",
        json={"title": "Outage"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]

    with Load(server.base_url, token, sid) as load:
        began = time.monotonic()
        wait_until(lambda: load.count(began, 202) >= 5, timeout=30, what="turns before the outage")
        cluster.stop()
        down = time.monotonic()
        wait_until(lambda: load.count(down) >= 40, timeout=60, what="requests during the outage")
        stream_during = open_stream(server.base_url, token, sid, after="1")
        back_requested = time.monotonic()
        cluster.start()
        back = time.monotonic()
        recovered_in = wait_until(server.ready, timeout=RECOVERY_S, what="/readyz after the return")
        wait_until(lambda: load.count(back + RECOVERY_S, 202) >= 5, timeout=30, what="turns after")
        stream_after = open_stream(server.base_url, token, sid, after="1")

    # A browser keeps an EventSource only through a 200: during the outage the stream is told
    # when to come back, with no event; once the store is back the same request resumes.
    assert stream_during.status == 200, stream_during
    assert stream_during.content_type.startswith("text/event-stream")
    assert "retry: 2000" in stream_during.lines
    assert not [line for line in stream_during.lines if line.startswith(("id:", "data:"))]
    assert stream_after.status == 200, stream_after
    assert "id: 2" in stream_after.lines, stream_after

    calls = load.calls
    slow = [c for c in calls if c.seconds > MAX_REQUEST_S]
    assert not slow, f"requests over {MAX_REQUEST_S} s: {slow}"
    failed = [c for c in calls if (c.status >= 500 and c.status != 503) or c.status == 0]
    assert not failed, f"answers other than 503 among the failures: {failed}"
    during = [c for c in calls if c.started >= down and c.ended <= back_requested]
    assert len(during) >= 40
    assert {c.status for c in during} == {503}, {c.status for c in during}
    assert all(c.retry_after for c in during)
    late = [c for c in calls if c.started >= back + RECOVERY_S and c.status >= 300]
    assert not late, f"still failing {RECOVERY_S} s after the database returned: {late}"
    assert recovered_in < RECOVERY_S

    acknowledged = [c.turn_id for c in calls if c.turn_id is not None]
    app = open_sessions(store_env(cluster.url, Path(server.log.parent), name="gaia"))
    try:
        stored = {
            str(e.turn_id)
            for e in app.events.get(UUID(sid))
            if isinstance(e, CampaignSession.TurnSubmitted)
        }
    finally:
        app.close()
    assert set(acknowledged) <= stored
