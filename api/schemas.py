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


# Character sheets: the domain (domain/campaign.py) keeps the same bounds; these make the
# OpenAPI document say them, and refuse "12" for a number before anything runs.
Level = Annotated[StrictInt, Field(ge=0, le=1000)]
HitPoints = Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)]
FreeJson = Annotated[dict[str, Any] | list[Any], AfterValidator(_json)]
StatusEffect = Annotated[str, StringConstraints(min_length=1, max_length=200), Line]


class CharacterFields(Body):
    """Every field may be null: on a change, null clears it. Inventory and abilities are
    limited like campaign settings (GAIA_MAX_SETTINGS_BYTES, GAIA_MAX_JSON_DEPTH)."""

    character_class: Annotated[str, StringConstraints(max_length=100), Line] | None = None
    race: Annotated[str, StringConstraints(max_length=100), Line] | None = None
    level: Level | None = None
    hit_points_current: HitPoints | None = None
    hit_points_max: Annotated[StrictInt, Field(ge=0, le=1_000_000)] | None = None
    armor_class: Annotated[StrictInt, Field(ge=0, le=1000)] | None = None
    status_effects: Annotated[list[StatusEffect], Field(max_length=50)] | None = None
    inventory: FreeJson | None = None
    abilities: FreeJson | None = None
    backstory: (
        Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_text)] | None
    ) = None
    portrait_media_id: Annotated[str, StringConstraints(max_length=64), Line] | None = None


class CharacterIn(CharacterFields):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), Line]
    kind: Literal["pc", "npc"] = "pc"  # only the owner adds NPCs
    # Optional: a chosen id (e.g. an imported campaign's "pc:mira_fen"); else one is made.
    character_id: Annotated[str, StringConstraints(min_length=1, max_length=64), Line] | None = None


class CharacterChangeIn(CharacterFields):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), Line] | None = None
    retired: Literal[True] | None = None  # true retires the character (for good)
