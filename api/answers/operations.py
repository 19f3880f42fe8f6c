"""Answers of the operations routes (health, readiness, metrics) and of the guest sign-in."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import Field

from api.answers.base import Absent, Answer


class Health(Answer):
    status: str


class SkippedEvents(Answer):
    count: int
    last: dict[str, Any] | None


class Readiness(Answer):
    """Ready (200) or not (503, with Retry-After); states only, the reasons are in the log."""

    status: str = Field(description="ok, catching_up or unavailable")
    store: str | Absent = Field(None, description="unavailable or circuit_open")
    position: int | Absent = None
    projection_lag: int | Absent = None
    projection_skipped: dict[str, SkippedEvents] | Absent = Field(
        None, description="events a view went past, by view"
    )
    projection_error: str | None = Field(None, description="failing while catching up")


READINESS: Final[dict[int | str, dict[str, Any]]] = {
    503: {"model": Readiness, "description": "not ready: the store or a view is behind"}
}
METRICS: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "Prometheus text exposition",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


class GuestToken(Answer):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (OAuth 2's token type, not a secret)
    user_id: str
