"""Mapping a campaign's files other than its history (docs/legacy-format.md#game-state, #images,
#preserved): game state as ``GameStateRecorded``, images with a binary as ``MediaStored``, the rest
preserved."""

from __future__ import annotations

import itertools
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final
from uuid import UUID

from domain.ids import legacy_child_id
from domain.media import storage_key
from migrate_legacy import classify as k
from migrate_legacy.campaign import JSON, TEXT, Decoded, ImageFinder, ParsedCampaign
from migrate_legacy.model import IMPORTED, PRESERVED, REJECTED, FileRow, Notice
from migrate_legacy.steps import Preserve, RecordMedia, RecordState, Step
from migrate_legacy.timestamps import NaiveZone, instant_or_none

STATE_KINDS: Final = {
    k.CAMPAIGN_DATA: "campaign_data",
    k.CHARACTER: "character",
    k.SCENE: "scene",
    k.TURN: "turn",
    k.COMBAT_SESSION: "combat",
    k.COMBAT_LOG: "combat",
    k.SUMMARY: "summary",
}
# Order of the events after the messages: game state by kind, then images, then artifacts.
ORDER: Final = (
    k.CAMPAIGN_DATA,
    k.CHARACTER,
    k.SCENE,
    k.TURN,
    k.COMBAT_SESSION,
    k.COMBAT_LOG,
    k.SUMMARY,
    k.IMAGE_METADATA,
)
KEY_FIELDS: Final = {
    k.CHARACTER: ("character_id",),
    k.SCENE: ("scene_id", "id"),
    k.TURN: ("turn_id",),
}
IMPORTED_WITHOUT_STEPS: Final = frozenset({k.METADATA, k.HISTORY})
COMBAT_PREFIX: Final = "data/combat/"


@dataclass(frozen=True)
class Binary:
    """A file to copy into the media store before the session is saved."""

    path: Path
    rel: str
    sha256: str
    size: int
    content_type: str


@dataclass
class FileMapping:
    rows: dict[str, FileRow] = field(default_factory=dict)  # by campaign-relative key
    manifest: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    binaries: list[Binary] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    binaries_found: int = 0
    binaries_missing: int = 0

    def settle(self, file: Decoded, fate: str) -> None:
        loaded = file.loaded
        self.rows[file.key] = FileRow(
            file.rel, loaded.sha256, loaded.size, fate, file.reason, file.detail
        )
        entry: dict[str, Any] = {"path": file.key, "kind": file.kind, "sha256": loaded.sha256}
        entry |= {"bytes": loaded.size, "fate": fate}
        self.manifest[file.key] = entry | ({"reason": file.reason} if file.reason else {})


def map_files(
    parsed: ParsedCampaign, stream_id: UUID, zone: NaiveZone, find_image: ImageFinder
) -> FileMapping:
    result = FileMapping()
    imported: list[tuple[int, Any, int, Step]] = []
    preserved: list[Step] = []
    for index, file in enumerate(parsed.files):
        if not file.ok:
            result.settle(file, REJECTED)
        elif file.kind in IMPORTED_WITHOUT_STEPS:
            result.settle(file, IMPORTED)
        elif file.kind in STATE_KINDS and not file.reserved:
            step = RecordState(STATE_KINDS[file.kind], _state_key(file), file.value, file.key)
            imported.append((ORDER.index(file.kind), _sort_key(file), index, step))
            result.settle(file, IMPORTED)
        elif file.kind == k.IMAGE_METADATA and not file.reserved and isinstance(file.value, dict):
            media = _image(file, parsed.candidate.legacy_id, stream_id, zone, find_image, result)
            if media is None:
                preserved.append(_preserve(file, result))
            else:
                imported.append((ORDER.index(file.kind), "", index, media))
        else:
            if file.reserved:
                result.notices.append(
                    Notice(
                        "reserved_json_shape",
                        file.rel,
                        "kept as text: an object is shaped like the store's own encoding",
                    )
                )
            preserved.append(_preserve(file, result))
    result.steps = [step for *_, step in sorted(imported, key=lambda item: item[:3])] + preserved
    result.notices += _turn_chain(parsed) + _scenes_in_database(parsed)
    return result


def _state_key(file: Decoded) -> str:
    if file.kind in (k.COMBAT_SESSION, k.COMBAT_LOG):
        return file.key.removeprefix(COMBAT_PREFIX)
    if file.kind == k.CAMPAIGN_DATA:
        return "campaign_data"
    value = file.value if isinstance(file.value, dict) else {}
    for name in KEY_FIELDS.get(file.kind, ()):
        if isinstance(value.get(name), str) and value[name]:
            return str(value[name])
    return PurePosixPath(file.key).stem or file.key


def _sort_key(file: Decoded) -> Any:
    """Turns by ``turn_number`` (then path); everything else by path."""
    if file.kind == k.TURN and isinstance(file.value, dict):
        number = file.value.get("turn_number")
        if isinstance(number, int) and not isinstance(number, bool):
            return (0, number, file.key)
    return (1, 0, file.key)


def _preserve(file: Decoded, result: FileMapping) -> Step:
    data, sha256 = file.content()
    content: Any
    if file.reserved or file.form == TEXT:
        content = {"text": data.decode("utf-8") if file.reserved else file.value}
    elif file.form == JSON:
        content = {"json": file.value}
    else:  # binary: the bytes go to the media store, the artifact points at them
        octets = "application/octet-stream"
        result.binaries.append(Binary(file.loaded.file.path, file.rel, sha256, len(data), octets))
        content = {
            "binary": {"storage_key": storage_key(sha256), "sha256": sha256, "bytes": len(data)}
        }
    result.settle(file, PRESERVED)
    return Preserve(file.key, sha256, content, file.key)


def image_file_name(metadata: dict[str, Any]) -> str | None:
    """``storage_filename``, else ``filename``, else the base name of ``storage_path``; never a
    path (a name with a separator or a dot-name would escape the image root)."""
    for key in ("storage_filename", "filename", "storage_path"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            name = PurePosixPath(value.replace("\\", "/")).name if key == "storage_path" else value
            if "/" in name or "\\" in name or name in (".", ".."):
                return None
            return name
    return None


def _image(
    file: Decoded,
    legacy_id: str,
    stream_id: UUID,
    zone: NaiveZone,
    find_image: ImageFinder,
    result: FileMapping,
) -> Step | None:
    metadata: dict[str, Any] = file.value
    name = image_file_name(metadata)
    kind = metadata.get("type") if isinstance(metadata.get("type"), str) else ""
    found = find_image(legacy_id, str(kind), name) if name else None
    if found is None or found.reason is not None or found.data is None or found.sha256 is None:
        detail = (
            f"{name!r} not found under the image root"
            if found is None
            else f"{found.file.rel}: {found.detail}"
        )
        result.notices.append(
            Notice("missing_image_binary", file.rel, detail if name else "no file name")
        )
        result.binaries_missing += 1
        return None
    mime = metadata.get("mime_type")
    content_type = (
        mime
        if isinstance(mime, str) and "/" in mime
        else mimetypes.guess_type(found.file.path.name)[0]
    )
    binary = Binary(
        found.file.path,
        found.file.rel,
        found.sha256,
        len(found.data),
        content_type or "application/octet-stream",
    )
    result.binaries.append(binary)
    result.binaries_found += 1
    result.settle(file, IMPORTED)
    legacy = {
        "path": file.key,
        "metadata_sha256": file.content()[1],
        "metadata": metadata,
        "binary": found.file.rel,
    }
    return RecordMedia(
        media_id=legacy_child_id(stream_id, "media", file.key),
        content_type=binary.content_type,
        size=binary.size,
        sha256=binary.sha256,
        storage_key=storage_key(binary.sha256),
        filename=found.file.path.name,
        legacy=legacy,
        at=instant_or_none(metadata.get("timestamp"), zone),
        source=file.key,
    )


def _turn_chain(parsed: ParsedCampaign) -> list[Notice]:
    """Turns in number order should link both ways; breaks are reported, not repaired
    (docs/legacy-format.md#game-state)."""
    turns = [f.value for f in parsed.of_kind(k.TURN) if f.ok and isinstance(f.value, dict)]
    numbered = sorted(
        (t for t in turns if isinstance(t.get("turn_number"), int)), key=lambda t: t["turn_number"]
    )
    breaks = [
        f"{a.get('turn_id')} -> {b.get('turn_id')}"
        for a, b in itertools.pairwise(numbered)
        if a.get("next_turn_id") != b.get("turn_id")
        or b.get("previous_turn_id") != a.get("turn_id")
    ]
    if not breaks:
        return []
    return [Notice("turn_chain_broken", None, f"{len(breaks)} break(s), first {breaks[0]}")]


def _scenes_in_database(parsed: ParsedCampaign) -> list[Notice]:
    data = parsed.campaign_data if isinstance(parsed.campaign_data, dict) else {}
    custom = data.get("custom_data")
    if isinstance(custom, dict) and custom.get("scene_storage_mode") == "database":
        uuid = custom.get("campaign_uuid")
        return [
            Notice(
                "scenes_in_database",
                None,
                f"scenes kept in the legacy database (campaign_uuid {uuid})",
            )
        ]
    return []
