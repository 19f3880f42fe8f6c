"""Request bodies accepted by the API (pydantic lives here, at the edge, never in the domain)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
ShortText = Annotated[str, StringConstraints(max_length=200)]


class Body(BaseModel):
    # Unknown fields are ignored, so older and newer web clients keep working.
    model_config = ConfigDict(extra="ignore")


class GuestIn(Body):
    display_name: Name


class NewCampaignIn(Body):
    title: Title | None = None
    settings: dict[str, Any] | None = Field(default=None, max_length=100)


class RenameIn(Body):
    title: Title


class TurnIn(Body):
    # The length limit is a setting (GAIA_MAX_TURN_CHARS), checked by the route.
    text: str = Field(min_length=1)
    kind: Literal["action", "context", "ooc"] = "action"
    character_id: ShortText | None = None
    character_name: ShortText | None = None


class InviteIn(Body):
    role: Literal["player", "spectator"] = "player"
    expires_in_s: int | None = Field(default=None, ge=1, le=365 * 24 * 3600)
    max_uses: int | None = Field(default=None, ge=1, le=1_000_000)


class AcceptIn(Body):
    token: str = Field(min_length=1, max_length=200)


class ShareIn(InviteIn):
    session_id: str = Field(min_length=1, max_length=64)


class JoinIn(Body):
    invite_token: str = Field(min_length=1, max_length=200)


class RoleIn(Body):
    role: Literal["player", "spectator"]


class RewindIn(Body):
    # Strict: "5" or 5.0 is a client bug, not a version.
    to_version: StrictInt


class ForkIn(Body):
    at_version: StrictInt | None = None  # default: the parent's latest quiet version
    title: Title | None = None
