"""Answers about play: a turn accepted or sent back to the narrator, and pages of the history
(a message's shape is ARCHITECTURE §6.1's)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.answers.base import Absent, Answer, Person, Written


class TurnAccepted(Written):
    turn_id: str


class MediaItem(Answer):
    media_id: str
    kind: str = Field(description="image or audio")
    content_type: str
    size: int
    sha256: str
    filename: str
    turn_id: str | None
    source: str
    version: int


class PlayedCharacter(Answer):
    id: str
    name: str


class InheritedFrom(Answer):
    session_id: str
    version: int


class Message(Answer):
    """One message of the history. Keys after ``recorded_at`` appear only where they apply."""

    message_id: str
    version: int = Field(description="<= 0 for messages a fork inherited")
    turn_id: str | None
    role: str = Field(description="player, narrator or system")
    kind: str
    author: Person | None
    character: PlayedCharacter | None
    text: str
    structured: dict[str, Any]
    media: list[MediaItem]
    occurred_at: str | None
    recorded_at: str
    pending: bool | Absent = Field(None, description="a turn: still waiting for narration")
    held: bool | Absent = Field(None, description="an imported turn nobody narrates unasked")
    legacy: dict[str, Any] | Absent = Field(None, description="an imported message, verbatim")
    answer: str | Absent = None
    player_options: list[str] | Absent = None
    provider: str | Absent = None
    model: str | Absent = None
    degraded: bool | Absent = None
    inherited_from: InheritedFrom | Absent = None


class History(Answer):
    messages: list[Message]
    next_after: int | None = Field(description="the cursor of the next page; null on the last")
    previous_before: int | None = Field(
        None, description="reading backwards: the cursor of the older page; null on the first"
    )
    version: int
