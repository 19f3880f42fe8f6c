"""The route-by-caller matrix: who calls, and what every answer to them must look like."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import Service

CALLERS: dict[str, str | None] = {
    "owner": "user-owner",
    "player": "user-player",
    "spectator": "user-spectator",
    "stranger": "user-stranger",
    "anonymous": None,
}


def call_as(service: Service, caller: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Call as one of CALLERS and check the shape every refusal must have.

    A refusal is a JSON error and writes nothing anywhere in the store; a 401 names the scheme.
    """
    position = service.state.sessions.max_position()
    response = service.call(method, path, CALLERS[caller], **kwargs)
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}, response.text
        assert service.state.sessions.max_position() == position  # a refusal writes nothing
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    return response
