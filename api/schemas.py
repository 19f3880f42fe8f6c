"""Request bodies accepted by the API (pydantic lives here, at the edge, never in the domain)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from domain.inputs import json_problem, line_problem, text_problem


def _line(value: str) -> str:
    """Titles, names, ids and tokens: no control character at all (domain/inputs.py)."""
    if problem := line_problem(value):
        raise ValueError(problem)
    return value


def _text(value: str) -> str:
    """Free text: tabs and line breaks, but no other control character."""
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def _json(value: Any) -> Any:
    """Free JSON: finite numbers, bounded nesting (the configured limits are the route's)."""
    if problem := json_problem(value):
        raise ValueError(problem)
    return value


Line = AfterValidator(_line)
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Line]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), Line]
ShortText = Annotated[str, StringConstraints(max_length=200), Line]
Token = Annotated[str, Field(min_length=1, max_length=200), Line]


class Body(BaseModel):
    # Unknown fields are ignored, so older and newer web clients keep working.
    model_config = ConfigDict(extra="ignore")


class GuestIn(Body):
    display_name: Name


class NewCampaignIn(Body):
    title: Title | None = None
    # Size and depth limits are settings (GAIA_MAX_SETTINGS_BYTES, GAIA_MAX_JSON_DEPTH),
    # checked by the route.
    settings: Annotated[dict[str, Any], AfterValidator(_json)] | None = Field(
        default=None, max_length=100
    )


class RenameIn(Body):
    title: Title


class TurnIn(Body):
    # The length limit is a setting (GAIA_MAX_TURN_CHARS), checked by the route.
    text: Annotated[str, Field(min_length=1), AfterValidator(_text)]
    kind: Literal["action", "context", "ooc"] = "action"
    character_id: ShortText | None = None
    character_name: ShortText | None = None


class InviteIn(Body):
    role: Literal["player", "spectator"] = "player"
    expires_in_s: int | None = Field(default=None, ge=1, le=365 * 24 * 3600)
    max_uses: int | None = Field(default=None, ge=1, le=1_000_000)


class AcceptIn(Body):
    token: Token


class ShareIn(InviteIn):
    session_id: Annotated[str, Field(min_length=1, max_length=64), Line]


class JoinIn(Body):
    invite_token: Token


class RoleIn(Body):
    role: Literal["player", "spectator"]


class RewindIn(Body):
    # Strict: "5" or 5.0 is a client bug, not a version.
    to_version: StrictInt


class ForkIn(Body):
    at_version: StrictInt | None = None  # default: the parent's latest quiet version
    title: Title | None = None
