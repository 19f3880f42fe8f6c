"""The service as a real ``python -m api serve`` process on a port the test chooses, so that it
can be signalled, and restarted on the same address (a browser reconnects to the same URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.auth import LocalAuthenticator
from tests.support.stores import StoreConfig

ROOT = Path(__file__).resolve().parents[2]
SECRET = "live-stream-test-secret-" + "z" * 32


def store_env(store: StoreConfig, **settings: str) -> dict[str, str]:
    """The environment that points a server process at ``store`` with the tests' secret."""
    return {
        "GAIA_DATABASE_URL": store.database_url or "",
        "GAIA_DATA_DIR": str(store.data_dir),
        "GAIA_JWT_SECRET": SECRET,
        "GAIA_LOG_LEVEL": "WARNING",
        "GAIA_STREAMS_PER_USER": "1000",  # stream tests open a hundred streams as one user
        **settings,
    }


def bearer(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {LocalAuthenticator(SECRET).issue(user_id, user_id)}"}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self, timeout: float) -> float:
        """SIGTERM; wait for the exit; return the seconds it took (fails after ``timeout``)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        return time.monotonic() - started


def _ready(server: Server) -> bool:
    try:
        return httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start(env: Mapping[str, str], port: int, log: Path) -> Server:
    """Start the service with ``env`` on ``port``; see ``serve`` for waiting and stopping."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve"],
            cwd=ROOT,
            env=os.environ | dict(env) | {"PORT": str(port), "HOST": "127.0.0.1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server(process, port, log)


@contextmanager
def serve(*servers: Server, timeout: float = 30) -> Iterator[None]:
    """Wait until every started server is ready; kill those still running when the block ends.

    Starting several before waiting lets their (slow) imports overlap.
    """
    try:
        deadline = time.monotonic() + timeout
        for server in servers:
            while not _ready(server):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{server.log.read_text()}")
                time.sleep(0.05)
        yield
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait(10)
