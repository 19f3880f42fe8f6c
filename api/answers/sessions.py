"""Answers about sessions: one created or renamed, the caller's list, one session, its members."""

from __future__ import annotations

from pydantic import Field

from api.answers.base import Absent, Answer, Person, Written


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
    role: str = Field(description="the caller's role: owner, player or spectator")
    owner: ListedOwner | None
    last_activity_at: str
    message_count: int


class MySessions(Answer):
    sessions: list[SessionSummary] = Field(description="most recently active first")
    position: int = Field(description="the store position this list reflects at least")


class Member(Person):
    role: str = Field(description="owner, player or spectator")


class Members(Answer):
    members: list[Member]
    version: int


class Origin(Answer):
    kind: str = Field(description="new, fork or legacy")
    parent_id: str | Absent = None
    at_version: int | Absent = None
    legacy_id: str | Absent = None


class Session(Answer):
    """A session as ``GET /api/sessions/{sid}`` answers it."""

    session_id: str
    title: str
    owner: Person | None
    my_role: str = Field(description="the caller's role: owner, player or spectator")
    members: list[Member]
    version: int = Field(description="the session stream's last version")
    position: int
    created_at: str | None
    origin: Origin
