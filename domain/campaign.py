"""A session's campaign state: character sheets, the current scene and the active combat.

The rules a character sheet keeps, how the narrator's structured reply becomes world changes,
and the change log that both the aggregate and the per-session view fold the same way. The log
maps a key (``character:<id>``, ``scene``, ``combat``) to ``["<version> <json>", ...]``: the
value as JSON text (``null`` when gone) for each version that set it, so that a rewind drops
the entries after its point and the state is back to what it was there. Plain strings, as the
aggregate's turn log: the library deep-copies the aggregate on every load.
"""

from __future__ import annotations

import json
from typing import Any, Final

from domain.errors import Forbidden, NotFound, RuleViolation
from domain.inputs import check_json, check_line, check_text, json_problem

CHARACTER_KINDS: Final = frozenset({"pc", "npc"})
LINE_FIELDS: Final = {"name": 200, "character_class": 100, "race": 100, "portrait_media_id": 64}
INT_FIELDS: Final = {
    "level": (0, 1000),
    "hit_points_current": (-1_000_000, 1_000_000),
    "hit_points_max": (0, 1_000_000),
    "armor_class": (0, 1000),
}
JSON_FIELDS: Final = ("inventory", "abilities")  # free JSON: size and depth as settings allow
MAX_BACKSTORY: Final = 20_000
MAX_STATUS_EFFECTS: Final = 50
MAX_STATUS_EFFECT: Final = 200
SHEET_FIELDS: Final = frozenset(
    {*LINE_FIELDS, *INT_FIELDS, *JSON_FIELDS, "backstory", "status_effects"}
)

SCENE: Final = "scene"
COMBAT: Final = "combat"
CHARACTER_PREFIX: Final = "character:"

Log = dict[str, list[str]]


class InvalidCharacter(RuleViolation):
    code = "invalid_character"


class UnknownCharacter(RuleViolation):
    """A turn names a character that does not exist, is retired, or is not the caller's."""

    code = "unknown_character"


class CharacterNotFound(NotFound):
    code = "character_not_found"


class NotYourCharacter(Forbidden):
    code = "not_your_character"


class CharacterExists(RuleViolation):
    code = "character_exists"


class CharacterRetired(RuleViolation):
    code = "character_retired"


def check_sheet(sheet: dict[str, Any], *, creating: bool) -> None:
    """Refuse a sheet (or the changed fields of one) that breaks a rule; ``InvalidCharacter``
    names the field. Control characters are ``InvalidText``, bad JSON ``InvalidJson``."""
    unknown = sorted(set(sheet) - SHEET_FIELDS)
    if unknown:
        raise InvalidCharacter(f"unknown character fields: {unknown}", field=unknown[0])
    if creating and not isinstance(sheet.get("name"), str):
        raise InvalidCharacter("a character needs a name", field="name")
    for name, value in sheet.items():
        _check_field(name, value)


def _check_field(name: str, value: Any) -> None:
    if value is None and name != "name":
        return  # clears the field
    if name in LINE_FIELDS:
        _check_line_field(name, value)
    elif name in INT_FIELDS:
        low, high = INT_FIELDS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidCharacter(
                f"{name} must be a whole number from {low} to {high}", field=name
            )
    elif name == "backstory":
        if not isinstance(value, str) or len(value) > MAX_BACKSTORY:
            raise InvalidCharacter(f"backstory must be text of at most {MAX_BACKSTORY}", field=name)
        check_text(value, name)
    elif name == "status_effects":
        _check_status_effects(value)
    elif name in JSON_FIELDS:
        if not isinstance(value, dict | list):
            raise InvalidCharacter(f"{name} must be an object or a list", field=name)
        check_json(value, name)


def _check_line_field(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidCharacter(f"{name} must be a string", field=name)
    check_line(value, name)
    if len(value) > LINE_FIELDS[name] or (name == "name" and not value.strip()):
        raise InvalidCharacter(f"{name} must be 1 to {LINE_FIELDS[name]} characters", field=name)


def _check_status_effects(value: Any) -> None:
    field = "status_effects"
    if not isinstance(value, list) or len(value) > MAX_STATUS_EFFECTS:
        raise InvalidCharacter(f"{field} must list at most {MAX_STATUS_EFFECTS}", field=field)
    for effect in value:
        if not isinstance(effect, str) or not 1 <= len(effect) <= MAX_STATUS_EFFECT:
            raise InvalidCharacter(
                f"each status effect is 1 to {MAX_STATUS_EFFECT} characters", field=field
            )
        check_line(effect, field)


# -- the narrator's structured reply --------------------------------------------------------


def world_changes(
    structured: dict[str, Any], scene_now: Any, combat_now: Any
) -> list[tuple[str, Any]]:
    """What a structured reply changes in the world: ``("scene", scene)``, ``("combat_started"
    | "combat_updated", combat)`` or ``("combat_ended", None)``, in that order.

    A reply that says nothing of the scene or combat changes nothing; one that repeats the
    current value changes nothing either. Values the domain could not store (too deep, not
    finite) are left out: the reply itself is kept whole in the narration anyway.
    """
    changes: list[tuple[str, Any]] = []
    scene = _scene(structured)
    if scene is not None and scene != scene_now and json_problem(scene) is None:
        changes.append((SCENE, scene))
    combat = _combat(structured)
    if combat is False:
        if combat_now is not None:
            changes.append(("combat_ended", None))
    elif combat is not None and combat != combat_now and json_problem(combat) is None:
        changes.append(("combat_started" if combat_now is None else "combat_updated", combat))
    return changes


def _scene(structured: dict[str, Any]) -> dict[str, Any] | None:
    raw = structured.get("scene")
    if isinstance(raw, str) and raw.strip():
        scene: dict[str, Any] = {"title": raw.strip()}
    elif isinstance(raw, dict) and raw:
        scene = dict(raw)
    else:
        return None
    conditions = structured.get("environmental_conditions")
    if conditions:
        scene["environmental_conditions"] = conditions
    return scene


def _combat(structured: dict[str, Any]) -> dict[str, Any] | bool | None:
    """The combat a reply describes, False when it says combat is over, None when silent."""
    status = structured.get("combat_status")
    raw_info = structured.get("turn_info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    in_combat = info.get("is_combat")
    if in_combat is False or ("combat_status" in structured and not status and not in_combat):
        return False
    if not status and in_combat is not True:
        return None
    combat: dict[str, Any] = {"combatants": status if isinstance(status, dict) else {}}
    if info.get("round") is not None:
        combat["round"] = info["round"]
    if info.get("initiative_order"):
        combat["initiative"] = info["initiative_order"]
    return combat


# -- the change log -------------------------------------------------------------------------


def record(log: Log, key: str, version: int, value: Any) -> None:
    """Set ``key`` to ``value`` (None: gone) at ``version``."""
    encoded = json.dumps(value, sort_keys=True, ensure_ascii=False)
    log.setdefault(key, []).append(f"{version} {encoded}")


def current(log: Log, key: str) -> Any:
    entries = log.get(key)
    return json.loads(entries[-1].partition(" ")[2]) if entries else None


def rewind(log: Log, to_version: int) -> None:
    """Forget every change after ``to_version``."""
    for key in list(log):
        kept = [entry for entry in log[key] if int(entry.partition(" ")[0]) <= to_version]
        if kept:
            log[key] = kept
        else:
            del log[key]


def characters(log: Log) -> dict[str, dict[str, Any]]:
    """Every character ever created and not rewound away, retired ones included, by id."""
    found = {}
    for key in log:
        if key.startswith(CHARACTER_PREFIX) and (sheet := current(log, key)) is not None:
            found[key.removeprefix(CHARACTER_PREFIX)] = sheet
    return found


def state(log: Log) -> dict[str, Any]:
    """``{"characters": {id: sheet}, "scene": ..., "combat": ...}``."""
    return {
        "characters": characters(log),
        "scene": current(log, SCENE),
        "combat": current(log, COMBAT),
    }


def new_sheet(
    character_id: str, owner: str | None, kind: str, sheet: dict[str, Any], version: int
) -> dict[str, Any]:
    return {
        "character_id": character_id,
        "owner": owner,
        "kind": kind,
        "retired": False,
        "created_version": version,
        "updated_version": version,
    } | {name: value for name, value in sheet.items() if value is not None}


def changed_sheet(sheet: dict[str, Any], changes: dict[str, Any], version: int) -> dict[str, Any]:
    result = {name: value for name, value in sheet.items() if name not in changes}
    result.update({name: value for name, value in changes.items() if value is not None})
    result["updated_version"] = version
    return result
