"""The campaign state of a session: its characters and who plays them, and the scene and combat
a narration changes. The rules and the change log they fold into are in domain/campaign.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain import campaign
from domain.inputs import check_line
from domain.roles import Role
from domain.session.base import ActedEvent, InvalidValue, SessionEvent, SessionState, require_in


class _CombatChange(SessionEvent):
    """What CombatStarted and CombatUpdated share (never triggered itself)."""

    combat: dict[str, Any]
    turn_id: UUID | None

    def apply(self, session: SessionState) -> None:
        campaign.record(session.campaign, campaign.COMBAT, self.originator_version, self.combat)


class World(SessionState):
    """Characters, scene and combat: the commands that change them and what they answer."""

    class CharacterCreated(ActedEvent):
        """A player made a character (``kind`` pc), or the owner an NPC (``kind`` npc)."""

        TOPIC = "gaia.CharacterCreated"
        character_id: str
        owner: str | None
        kind: str
        sheet: dict[str, Any]

        def apply(self, session: SessionState) -> None:
            version = self.originator_version
            made = campaign.new_sheet(self.character_id, self.owner, self.kind, self.sheet, version)
            campaign.record(
                session.campaign, campaign.CHARACTER_PREFIX + self.character_id, version, made
            )

    class CharacterChanged(ActedEvent):
        """Fields of a character sheet changed; a None value cleared its field."""

        TOPIC = "gaia.CharacterChanged"
        character_id: str
        changes: dict[str, Any]

        def apply(self, session: SessionState) -> None:
            key, version = campaign.CHARACTER_PREFIX + self.character_id, self.originator_version
            sheet = campaign.current(session.campaign, key)
            changed = campaign.changed_sheet(sheet, self.changes, version)
            campaign.record(session.campaign, key, version, changed)

    class CharacterRetired(ActedEvent):
        TOPIC = "gaia.CharacterRetired"
        character_id: str

        def apply(self, session: SessionState) -> None:
            key, version = campaign.CHARACTER_PREFIX + self.character_id, self.originator_version
            retired = {"retired": True, "updated_version": version}
            campaign.record(
                session.campaign, key, version, campaign.current(session.campaign, key) | retired
            )

    class SceneEntered(SessionEvent):
        """The narrator's reply to ``turn_id`` moved the story to ``scene``."""

        TOPIC = "gaia.SceneEntered"
        scene: dict[str, Any]
        turn_id: UUID | None

        def apply(self, session: SessionState) -> None:
            campaign.record(session.campaign, campaign.SCENE, self.originator_version, self.scene)

    class CombatStarted(_CombatChange):
        """Combat began: ``combat`` holds combatants (hit points, status), round, initiative."""

        TOPIC = "gaia.CombatStarted"

    class CombatUpdated(_CombatChange):
        TOPIC = "gaia.CombatUpdated"

    class CombatEnded(SessionEvent):
        TOPIC = "gaia.CombatEnded"
        turn_id: UUID | None

        def apply(self, session: SessionState) -> None:
            campaign.record(session.campaign, campaign.COMBAT, self.originator_version, None)

    def campaign_state(self) -> dict[str, Any]:
        """Characters by id (retired ones too), the current scene and the active combat."""
        return campaign.state(self.campaign)

    def character(self, character_id: str) -> dict[str, Any] | None:
        key = campaign.CHARACTER_PREFIX + character_id
        sheet: dict[str, Any] | None = campaign.current(self.campaign, key)
        return sheet

    def may_edit(self, actor: str, sheet: dict[str, Any]) -> bool:
        """A player edits her own characters; the owner edits any."""
        return sheet["owner"] == actor or self.role_of(actor) == Role.OWNER

    def _speaking_as(self, actor: str, character: dict[str, str] | None) -> dict[str, str] | None:
        """The turn's character: an id must name a live character the caller may play (her
        own, or for the owner an NPC too), and the turn then carries its name. A name alone is
        a free label, as in imported transcripts ("Player" when none was chosen)."""
        if character is None or not character.get("id"):
            return character
        sheet = self.character(character["id"])
        playable = (
            sheet is not None
            and not sheet["retired"]
            and (
                sheet["owner"] == actor
                or (sheet["kind"] == "npc" and self.role_of(actor) == Role.OWNER)
            )
        )
        if sheet is None or not playable:
            raise campaign.UnknownCharacter(
                "character_id must name one of your characters",
                field="character_id",
                character_id=character["id"],
            )
        return {"id": character["id"], "name": character.get("name") or sheet["name"]}

    def create_character(
        self,
        *,
        actor: str,
        character_id: str,
        kind: str,
        sheet: dict[str, Any],
        at: datetime | None,
    ) -> None:
        self.require(actor, Role.OWNER if kind == "npc" else Role.PLAYER)
        require_in(kind, campaign.CHARACTER_KINDS, "kind")
        if not character_id:
            raise InvalidValue("character_id must not be empty", field="character_id")
        check_line(character_id, "character_id")
        campaign.check_sheet(sheet, creating=True)
        if self.character(character_id) is not None:
            raise campaign.CharacterExists(
                "a character with this id exists", character_id=character_id
            )
        self._created(character_id, actor, kind, sheet, actor, at)

    def _created(
        self,
        character_id: str,
        owner: str | None,
        kind: str,
        sheet: dict[str, Any],
        actor: str | None,
        at: datetime | None,
    ) -> None:
        self.trigger_event(
            self.CharacterCreated,
            character_id=character_id,
            owner=owner,
            kind=kind,
            sheet=sheet,
            actor=actor,
            occurred_at=at,
        )

    def _editable(self, actor: str, character_id: str) -> dict[str, Any]:
        self.require(actor, Role.PLAYER)
        sheet = self.character(character_id)
        if sheet is None:
            raise campaign.CharacterNotFound("character not found", character_id=character_id)
        if not self.may_edit(actor, sheet):
            raise campaign.NotYourCharacter(
                "only its player or the session owner may change a character",
                character_id=character_id,
            )
        if sheet["retired"]:
            raise campaign.CharacterRetired("the character is retired", character_id=character_id)
        return sheet

    def change_character(
        self, *, actor: str, character_id: str, changes: dict[str, Any], at: datetime | None
    ) -> None:
        sheet = self._editable(actor, character_id)
        campaign.check_sheet(changes, creating=False)
        if any(sheet.get(name) != value for name, value in changes.items()):
            self.trigger_event(
                self.CharacterChanged,
                character_id=character_id,
                changes=changes,
                actor=actor,
                occurred_at=at,
            )

    def retire_character(self, *, actor: str, character_id: str, at: datetime | None) -> None:
        self._editable(actor, character_id)
        self.trigger_event(
            self.CharacterRetired, character_id=character_id, actor=actor, occurred_at=at
        )

    def inherit_campaign(self, parent_state: dict[str, Any], at: datetime | None) -> None:
        """A fork starts where its parent stood: its characters (with their players), scene
        and combat, recorded again as this session's own events."""
        for character_id, sheet in parent_state["characters"].items():
            if not sheet["retired"]:
                fields = {k: v for k, v in sheet.items() if k in campaign.SHEET_FIELDS}
                self._created(character_id, sheet["owner"], sheet["kind"], fields, None, at)
        if parent_state["scene"] is not None:
            self.trigger_event(
                self.SceneEntered, scene=parent_state["scene"], turn_id=None, occurred_at=at
            )
        if parent_state["combat"] is not None:
            combat = parent_state["combat"]
            self.trigger_event(self.CombatStarted, combat=combat, turn_id=None, occurred_at=at)

    def _fold_world(self, structured: dict[str, Any], turn_id: UUID, at: datetime | None) -> None:
        """Record what a narration's structured reply changed in the world."""
        scene_now = campaign.current(self.campaign, campaign.SCENE)
        combat_now = campaign.current(self.campaign, campaign.COMBAT)
        for change, value in campaign.world_changes(structured, scene_now, combat_now):
            if change == campaign.SCENE:
                self.trigger_event(self.SceneEntered, scene=value, turn_id=turn_id, occurred_at=at)
            elif change == "combat_ended":
                self.trigger_event(self.CombatEnded, turn_id=turn_id, occurred_at=at)
            else:
                event = self.CombatStarted if change == "combat_started" else self.CombatUpdated
                self.trigger_event(event, combat=value, turn_id=turn_id, occurred_at=at)
