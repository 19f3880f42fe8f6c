"""What each file of a campaign folder is (docs/legacy-format.md#layouts, #files), from its path
alone."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Final

METADATA: Final = "metadata"
HISTORY: Final = "history"
HISTORY_COPY: Final = "history_copy"  # <dir>/chat_history.json beside logs/chat_history.json
BACKUP: Final = "backup"
CAMPAIGN_DATA: Final = "campaign_data"
CHARACTER: Final = "character"
CHARACTER_SUMMARY: Final = "character_summary"
SCENE: Final = "scene"
TURN: Final = "turn"
COMBAT_SESSION: Final = "combat_session"
COMBAT_LOG: Final = "combat_log"
COMBAT_OTHER: Final = "combat_other"  # metrics.json, debug_log.txt, anything else in combat/
SUMMARY: Final = "summary"
STRUCTURED: Final = "structured"
IMAGE_METADATA: Final = "image_metadata"
SCENE_IMAGE_SET: Final = "scene_image_set"
CUSTOM: Final = "custom"

# Kinds whose file must hold JSON; any other file is custom data, kept as text or bytes.
JSON_KINDS: Final = frozenset(
    {
        METADATA,
        HISTORY,
        HISTORY_COPY,
        BACKUP,
        CAMPAIGN_DATA,
        CHARACTER,
        CHARACTER_SUMMARY,
        SCENE,
        TURN,
        COMBAT_SESSION,
        SUMMARY,
        STRUCTURED,
        IMAGE_METADATA,
        SCENE_IMAGE_SET,
    }
)
# A file of one of these kinds rejected means the whole campaign is rejected
# (docs/legacy-format.md#unreadable).
ESSENTIAL: Final = frozenset({METADATA, HISTORY})
COUNTED: Final = {
    CHARACTER: "characters",
    SCENE: "scenes",
    TURN: "turns",
    SUMMARY: "summaries",
    STRUCTURED: "structured",
    IMAGE_METADATA: "image_metadata",
    SCENE_IMAGE_SET: "scene_image_sets",
    COMBAT_SESSION: "combat_files",
    COMBAT_LOG: "combat_files",
    COMBAT_OTHER: "combat_files",
}

_FOLDERS: Final = {
    ("data", "characters"): CHARACTER,
    ("data", "scenes"): SCENE,
    ("data", "turns"): TURN,
    ("data", "summaries"): SUMMARY,
    ("data", "structured"): STRUCTURED,
    ("image_metadata",): IMAGE_METADATA,
    ("scene_image_sets",): SCENE_IMAGE_SET,
}
_EXACT: Final = {
    "metadata.json": METADATA,
    "logs/chat_history.json": HISTORY,
    "logs/chat_history.backup.json": BACKUP,
    "data/campaign_data.json": CAMPAIGN_DATA,
}
_ARCHIVED_COMBAT: Final = re.compile(r"^combat_\d{8}_\d{6}_.+\.json$", re.DOTALL)


def classify(key: str, *, has_logs_history: bool) -> str:
    """The kind of the file at ``key`` (its path relative to the campaign folder)."""
    parts = PurePosixPath(key).parts
    name = parts[-1]
    folder = parts[:-1]
    if key == "chat_history.json":
        return HISTORY_COPY if has_logs_history else HISTORY
    if key in _EXACT:
        return _EXACT[key]
    if folder[:2] == ("data", "combat"):
        return _combat(folder[2:], name)
    if folder == ("data", "characters") and name == "character_summary.json":
        return CHARACTER_SUMMARY
    kind = _FOLDERS.get(folder)
    if kind is not None and name.endswith(".json"):
        return kind
    return CUSTOM


def _combat(folder: tuple[str, ...], name: str) -> str:
    if name == "event_log.jsonl" and (
        folder == ("active",) or (len(folder) == 2 and folder[0] == "history")  # noqa: PLR2004
    ):
        return COMBAT_LOG
    if folder == ("active",) and name.endswith(".json"):
        return COMBAT_SESSION
    if folder == ("history",) and _ARCHIVED_COMBAT.match(name):
        return COMBAT_SESSION
    return COMBAT_OTHER


def l1_kind(index: int) -> str:
    """An L1 campaign has its log first, then its optional data file."""
    return HISTORY if index == 0 else CAMPAIGN_DATA


def expects_json(kind: str, key: str) -> bool:
    """True if the file must parse as JSON (JSON lines for event logs) to be imported."""
    return kind in JSON_KINDS or kind == COMBAT_LOG or key.endswith(".json")
