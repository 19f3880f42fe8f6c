"""The service as a real process: ``python -m api serve`` (or any start command) on a free port,
with its log kept in a file, for tests that signal it or take its database away."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.api import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVE = (sys.executable, "-m", "api", "serve")


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def ready(self) -> bool:
        """True once ``/readyz`` answers 200."""
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; return the seconds it took, or fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def server_process(
    env: Mapping[str, str],
    log: Path,
    *,
    command: Sequence[str] = SERVE,
    cwd: Path = ROOT,
    ready_timeout: float = 30,
) -> Iterator[ServerProcess]:
    """Start ``command`` with ``env`` over this process's environment (HOST 127.0.0.1 unless
    ``env`` says otherwise) and PORT set to a free port; yield once ``/readyz`` answers 200;
    kill it afterwards if it is still running."""
    port = free_port()
    # PORT is the platform's to choose, as Cloud Run does; it wins over any in ``env``.
    full_env = os.environ | {"HOST": "127.0.0.1"} | dict(env) | {"PORT": str(port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=full_env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(
            lambda: server.ready() or process.poll() is not None,
            timeout=ready_timeout,
            what="the server to be ready",
        )
        if process.poll() is not None:
            raise AssertionError(
                f"the server exited with {process.returncode}:\n{server.log_text()}"
            )
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
