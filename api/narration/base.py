"""What a narrator provider takes, what it gives back, and how it fails.

The turn worker builds a ``NarrationRequest`` from the session, asks a ``Narrator`` for a
``Narration``, and records ``NarrationFailed`` (with its ``error_kind``) when the provider gives up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

HISTORY_ROLES: Final = frozenset({"player", "narrator", "system"})
TURN_KINDS: Final = frozenset({"action", "context", "ooc"})

# What a failure record says of a crash on our side; members read it, the log has the crash.
INTERNAL_FAILURE: Final = "an internal error (see the service log)"

ErrorKind = Literal[
    "timeout", "rate_limited", "server_error", "bad_response", "connection", "rejected"
]


@dataclass(frozen=True)
class HistoryEntry:
    """One visible message of the session; a request lists them oldest first."""

    role: str  # "player" | "narrator" | "system"
    text: str
    author: str | None = None  # display name, or the character's name, for players

    def __post_init__(self) -> None:
        # Caught here, where the worker maps its events, rather than deep in prompt building.
        if self.role not in HISTORY_ROLES:
            raise ValueError(f"history role must be one of {sorted(HISTORY_ROLES)}: {self.role!r}")


@dataclass(frozen=True)
class NarrationRequest:
    """Everything a narrator needs to narrate one turn."""

    session_title: str
    settings: Mapping[str, Any]  # session settings, e.g. {"game_style": ..., "setting": ...}
    history: Sequence[HistoryEntry]
    turn_text: str
    turn_kind: str  # "action" | "context" | "ooc"
    character_name: str | None
    # The campaign state (projections/campaign.py): live characters, the scene and the combat.
    party: Sequence[Mapping[str, Any]] = ()
    scene: Mapping[str, Any] | None = None
    combat: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.turn_kind not in TURN_KINDS:
            raise ValueError(f"turn kind must be one of {sorted(TURN_KINDS)}: {self.turn_kind!r}")


@dataclass(frozen=True)
class Narration:
    """A narrated turn, shaped like the ``NarrationCompleted`` event minus timing."""

    narrative: str
    answer: str
    player_options: list[str]
    structured: dict[str, Any]  # the model's JSON reply verbatim, or {} for a plain-text reply
    provider: str  # "demo" | "openai-compatible"
    model: str
    degraded: bool = False


class NarrationFailed(Exception):
    """The provider gave no usable narration, after every attempt it was worth making.

    ``error_kind`` says why the last attempt failed:

    - ``timeout``: connecting, or waiting for the next bytes, took longer than allowed;
    - ``rate_limited``: the provider answered 429;
    - ``server_error``: 5xx, 409, or an error event inside a stream;
    - ``bad_response``: the body was not the JSON, the stream or the content expected;
    - ``connection``: the connection failed or dropped, including a stream cut off midway;
    - ``rejected``: a 4xx that retrying cannot fix (bad key, unknown model, request too large).

    ``attempts`` counts the requests made; ``status_code`` is the last HTTP status, if any.
    """

    def __init__(
        self, error_kind: ErrorKind, message: str, *, attempts: int, status_code: int | None = None
    ) -> None:
        super().__init__(f"{error_kind} after {attempts} attempt(s): {message}")
        self.error_kind: ErrorKind = error_kind
        self.message = message
        self.attempts = attempts
        self.status_code = status_code


DeltaSink = Callable[[str], Awaitable[None]]
"""Receives pieces of the narrative while it streams; joined, they make the narrative."""


class Narrator(Protocol):
    """A narration provider: the remote model, or the offline demo."""

    name: str
    model: str

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration: ...

    async def aclose(self) -> None: ...
