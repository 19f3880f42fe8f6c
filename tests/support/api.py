"""Running the real service in tests: uvicorn on a free loopback port in a thread, local tokens."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from fastapi import FastAPI

from api.app import app_state, create_app
from api.server import GaiaServer, server_options
from api.settings import Settings
from api.state import AppState
from tests.support.stores import StoreConfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    app: FastAPI
    client: httpx.Client
    base_url: str

    @property
    def state(self) -> AppState:
        return app_state(self.app)

    def token(self, user_id: str, name: str | None = None) -> str:
        local = self.state.local_auth
        assert local is not None
        return local.issue(user_id, name or user_id)

    def headers(self, user_id: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"} if user_id else {}

    def call(self, method: str, path: str, user: str | None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def narrated(self, timeout: float = 30.0) -> None:
        """Wait until the turn worker has nothing left to narrate."""
        worker = self.state.worker
        assert worker._loop is not None
        asyncio.run_coroutine_threadsafe(worker.idle(), worker._loop).result(timeout)

    def version(self, session_id: str) -> int:
        return self.state.sessions.get(UUID(session_id)).version


def settings_for(store: StoreConfig, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": store.data_dir,
        "database_url": store.database_url,
        "jwt_secret": "test-secret-" + "x" * 32,
        "resume_sweep_seconds": 3600,
        # Stream tests open a hundred streams as one user; tests of the cap set their own.
        "streams_per_user": 1000,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running(store: StoreConfig, **overrides: Any) -> Iterator[Service]:
    """The service on a real uvicorn, started and stopped around the block."""
    settings = settings_for(store, **overrides)
    app = create_app(settings)
    # Bound here and handed to uvicorn: a port only looked up as free could be taken by a
    # parallel test before the server binds it.
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = int(listening.getsockname()[1])
    server = GaiaServer(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **server_options(settings),  # as `python -m api serve` runs it
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="uvicorn", daemon=True
    )
    thread.start()
    started = threading.Event()
    for _ in range(400):
        if server.started or not thread.is_alive():
            started.set()
            break
        started.wait(0.025)
    if not server.started:
        raise RuntimeError("the service did not start")
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            yield Service(app, client, base_url)
    finally:
        server.should_exit = True
        thread.join(15)
        listening.close()
