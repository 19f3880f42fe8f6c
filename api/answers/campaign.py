"""Answers about a session's campaign state: characters, scene, combat, quests and what a legacy
import recorded (``projections/campaign.py`` folds them)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.answers.base import Answer


class Character(Answer):
    """A character. A live one also carries the sheet fields it has (character_class, race,
    level, hit_points_current, hit_points_max, armor_class, status_effects, inventory,
    abilities, backstory, portrait_media_id) and created_version, updated_version; an imported
    one carries its legacy record's own keys, verbatim."""

    # Open, and the sheet fields untyped here: an imported character is its legacy record,
    # whatever keys and values that record has, and it is answered as it was.
    model_config = ConfigDict(extra="allow")

    character_id: str
    name: str
    owner: str | None
    owner_name: str | None
    kind: str = Field(description="pc or npc")
    retired: bool
    source: str = Field(description="live, or legacy (imported, and no live one replaces it)")


class Quests(Answer):
    all: dict[str, Any]
    active: list[str]


class Imported(Answer):
    characters: dict[str, Any]
    scenes: dict[str, Any]
    combat: dict[str, Any]
    campaign_data: dict[str, Any] | None


class CampaignState(Answer):
    characters: list[Character] = Field(
        description="live characters, then imported ones no live character replaces"
    )
    scene: dict[str, Any] | None = Field(description="live, else the imported current one")
    combat: dict[str, Any] | None
    quests: Quests
    legacy: Imported


class Campaign(CampaignState):
    version: int


class Characters(Answer):
    characters: list[Character]
    version: int


class CharacterWritten(Answer):
    character: Character
    version: int
    position: int
