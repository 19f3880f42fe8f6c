"""Answers about sessions: one created or renamed, the caller's list, one session, its members."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.answers.base import Answer, Person, Written
from domain.roles import Role


class SessionCreated(Written):
    session_id: str
    title: str


class Renamed(SessionCreated):
    pass


class ListedOwner(Answer):
    user_id: str
    display_name: str | None


class SessionSummary(Answer):
    session_id: str
    title: str
    role: Role = Field(description="the caller's role")
    owner: ListedOwner | None
    last_activity_at: str
    message_count: int


class MySessions(Answer):
    sessions: list[SessionSummary] = Field(description="most recently active first")
    position: int = Field(description="the store position this list reflects at least")


class SessionMember(Person):
    role: Role


class Members(Answer):
    members: list[SessionMember]
    version: int


class Origin(Answer):
    """Where a session came from; a fork names its parent and version, an import its legacy
    id. These are answered as the session's first event stored them, whatever they hold."""

    kind: str = Field(description="new, fork or legacy")
    parent_id: Any = Field(None, description="a fork's parent session id (a string)")
    at_version: Any = Field(None, description="the parent's version a fork starts from")
    legacy_id: Any = Field(None, description="an imported session's legacy id (a string)")


class Session(Answer):
    """A session as ``GET /api/sessions/{sid}`` answers it."""

    session_id: str
    title: str
    owner: Person | None
    my_role: Role = Field(description="the caller's role")
    members: list[SessionMember]
    version: int = Field(description="the session stream's last version")
    position: int
    created_at: str | None
    origin: Origin
