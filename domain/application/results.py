"""What the use cases answer: where a command left the stream, and what the caller needs next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Written:
    """Where a command left the stream: its version and the global position of its last event."""

    session_id: UUID
    version: int
    position: int


@dataclass(frozen=True)
class TurnAccepted(Written):
    turn_id: UUID
    repeated: bool


@dataclass(frozen=True)
class NarrationStored(Written):
    """A turn's narration (or its failure) stored, and the turns still waiting, oldest first:
    looked at under the same lock, so the narrator needs no read of its own for the next one."""

    waiting: tuple[str, ...]


@dataclass(frozen=True)
class CharacterMade(Written):
    character_id: str


@dataclass(frozen=True)
class InviteCreated(Written):
    invite_id: UUID
    token: str
    role: str
    expires_at: datetime | None
    max_uses: int | None


@dataclass(frozen=True)
class Joined(Written):
    role: str
    joined: bool
