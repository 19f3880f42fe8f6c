"""The campaign-state part of a session's view: characters, scene, combat, quests and what a
legacy import recorded, folded from the stream with the same change log the aggregate keeps.

Live state (``CharacterCreated`` ... ``CombatEnded``) goes through ``domain.campaign``'s log, so a
rewind takes it back exactly as it does in the aggregate. Imported state (``GameStateRecorded``)
is kept by kind and key; an imported character or scene shows wherever no live one replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from domain import campaign

LEGACY_KINDS = ("character", "scene", "combat")


class Quests(TypedDict):
    all: dict[str, Any]
    active: list[str]


class ImportedState(TypedDict):
    """Everything a legacy import recorded, verbatim, by key."""

    characters: dict[str, Any]
    scenes: dict[str, Any]
    combat: dict[str, Any]
    campaign_data: dict[str, Any] | None


class CampaignDocument(TypedDict):
    """The campaign state a reader sees (``CampaignView.document``). A character is its sheet
    (``domain.campaign.new_sheet``) or imported record, with ``owner_name`` and ``source``."""

    characters: list[dict[str, Any]]
    scene: dict[str, Any] | None
    combat: dict[str, Any] | None
    quests: Quests
    legacy: ImportedState


@dataclass
class CampaignView:
    log: campaign.Log = field(default_factory=dict)
    # kind -> key -> [[version, data], ...] of imported state, rewound like the log.
    legacy: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)

    # -- folding (called by SessionView) ----------------------------------------------------

    def character_created(
        self, version: int, character_id: str, owner: str | None, kind: str, sheet: dict[str, Any]
    ) -> None:
        made = campaign.new_sheet(character_id, owner, kind, sheet, version)
        campaign.record(self.log, campaign.CHARACTER_PREFIX + character_id, version, made)

    def character_changed(self, version: int, character_id: str, changes: dict[str, Any]) -> None:
        key = campaign.CHARACTER_PREFIX + character_id
        sheet = campaign.changed_sheet(campaign.current(self.log, key), changes, version)
        campaign.record(self.log, key, version, sheet)

    def character_retired(self, version: int, character_id: str) -> None:
        key = campaign.CHARACTER_PREFIX + character_id
        sheet = campaign.current(self.log, key) | {"retired": True, "updated_version": version}
        campaign.record(self.log, key, version, sheet)

    def set(self, version: int, key: str, value: Any) -> None:
        campaign.record(self.log, key, version, value)

    def recorded(self, version: int, kind: str, key: str, data: Any) -> None:
        self.legacy.setdefault(kind, {}).setdefault(key, []).append([version, data])

    def rewound(self, to_version: int) -> None:
        campaign.rewind(self.log, to_version)
        for kind in list(self.legacy):
            entries = self.legacy[kind]
            for key in list(entries):
                kept = [entry for entry in entries[key] if entry[0] <= to_version]
                if kept:
                    entries[key] = kept
                else:
                    del entries[key]

    def latest(self) -> CampaignView:
        """A copy holding only each key's latest entry: it reads the same, costs one entry per
        character rather than one per change, and takes no more events (or rewinds)."""
        return CampaignView(
            {key: entries[-1:] for key, entries in self.log.items()},
            {kind: {k: [v[-1]] for k, v in keys.items()} for kind, keys in self.legacy.items()},
        )

    # -- reading ----------------------------------------------------------------------------

    def live(self) -> dict[str, Any]:
        """The state the aggregate keeps: ``domain.campaign.state``."""
        return campaign.state(self.log)

    def _imported(self, kind: str) -> dict[str, Any]:
        """Imported state of ``kind`` by key, in the order it was recorded (latest data)."""
        return {key: entries[-1][1] for key, entries in self.legacy.get(kind, {}).items()}

    def document(self, member_names: dict[str, str] | None = None) -> CampaignDocument:
        """What ``GET .../campaign`` answers: live characters, then imported ones no live
        character replaces; the live scene, else the imported current one; combat; quests;
        and everything imported, verbatim."""
        names = member_names or {}
        live = self.live()
        characters = [
            sheet
            | {"owner_name": names.get(sheet["owner"] or "", sheet["owner"]), "source": "live"}
            for sheet in live["characters"].values()
        ]
        imported_characters = self._imported("character")
        for key, data in imported_characters.items():
            if key not in live["characters"]:
                characters.append(_imported_character(key, data))
        campaign_data = self._imported("campaign_data").get("campaign_data")
        campaign_data = campaign_data if isinstance(campaign_data, dict) else {}
        return {
            "characters": characters,
            "scene": live["scene"] or self._imported_scene(campaign_data),
            "combat": live["combat"] or self._imported_combat(),
            "quests": _quests(campaign_data),
            "legacy": {
                "characters": imported_characters,
                "scenes": self._imported("scene"),
                "combat": self._imported("combat"),
                "campaign_data": campaign_data or None,
            },
        }

    def _imported_scene(self, campaign_data: dict[str, Any]) -> dict[str, Any] | None:
        """The imported campaign's current scene: the one its campaign data names, else the
        last scene record imported (an old raw scene only when there is nothing else)."""
        scenes = self._imported("scene")
        raw_inline = campaign_data.get("scenes")
        inline: dict[str, Any] = raw_inline if isinstance(raw_inline, dict) else {}
        current = campaign_data.get("current_scene_id")
        if isinstance(current, str):
            found = scenes.get(current) or inline.get(current)
            if isinstance(found, dict):
                return found
        records = [s for s in scenes.values() if isinstance(s, dict) and "scene_id" in s]
        if records:
            return dict(records[-1])
        others = [s for s in scenes.values() if isinstance(s, dict)]
        return dict(others[-1]) if others else None

    def _imported_combat(self) -> dict[str, Any] | None:
        active = [
            c
            for c in self._imported("combat").values()
            if isinstance(c, dict) and c.get("status") in ("initializing", "in_progress")
        ]
        return dict(active[-1]) if active else None


def _imported_character(key: str, data: Any) -> dict[str, Any]:
    sheet = dict(data) if isinstance(data, dict) else {"value": data}
    kind = "npc" if key.startswith("npc:") or sheet.get("character_type") == "npc" else "pc"
    return sheet | {
        "character_id": key,
        "name": sheet.get("name") if isinstance(sheet.get("name"), str) else key,
        "owner": None,
        "owner_name": None,
        "kind": kind,
        "retired": False,
        "source": "legacy",
    }


def _quests(campaign_data: dict[str, Any]) -> Quests:
    quests = campaign_data.get("quests")
    active = campaign_data.get("active_quest_ids")
    return {
        "all": quests if isinstance(quests, dict) else {},
        "active": [q for q in active if isinstance(q, str)] if isinstance(active, list) else [],
    }
