"""Answers about sharing: invites issued and listed, invites accepted, roles changed."""

from __future__ import annotations

from pydantic import Field

from api.answers.base import Answer, Written
from domain.roles import Role


class InviteCreated(Written):
    invite_id: str
    token: str = Field(description="shown this once: only its SHA-256 is stored")
    url: str
    role: Role
    expires_at: str | None
    max_uses: int | None


class Shared(InviteCreated):
    """The web client's alias answers the invite, its token again and the session."""

    invite_token: str
    session_id: str


class Invite(Answer):
    invite_id: str
    role: Role
    expires_at: str | None
    max_uses: int | None
    uses: int
    revoked: bool
    created_at: str


class Invites(Answer):
    invites: list[Invite]


class Joined(Written):
    session_id: str
    role: Role


class RoleChanged(Written):
    user_id: str
    role: Role
