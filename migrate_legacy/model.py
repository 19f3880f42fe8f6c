"""The vocabulary of the report (docs/legacy-format.md#report): fates, reasons, statuses, and the
small records every stage passes along; the warning codes are listed in
docs/legacy-format.md#warnings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

# Fates of a file.
IMPORTED: Final = "imported"
PRESERVED: Final = "preserved"
REJECTED: Final = "rejected"

# Reasons a file is rejected (besides empty_file, unreadable and invalid_json in sources).
NOT_A_CAMPAIGN: Final = "not_a_campaign"
CAMPAIGN_REJECTED: Final = "campaign_rejected"
SUPERSEDED: Final = "superseded"
CONFLICT: Final = "conflict"
WRITE_FAILED: Final = "write_failed"  # ours: the store refused or failed the campaign's write

# Statuses of a campaign.
STATUS_IMPORTED: Final = "imported"
STATUS_PARTIAL: Final = "imported_partial"
STATUS_ALREADY: Final = "already_imported"
STATUS_REJECTED: Final = "rejected"
STATUS_CONFLICT: Final = "conflict"

COUNT_KEYS: Final = (
    "messages",
    "characters",
    "scenes",
    "turns",
    "summaries",
    "structured",
    "image_metadata",
    "scene_image_sets",
    "combat_files",
    "image_binaries",
    "image_binaries_missing",
    "preserved",
    "audio_refs",
)


@dataclass(frozen=True)
class Notice:
    """One warning: its code, the file it concerns and a human detail."""

    code: str
    path: str | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"code": self.code}
        if self.path is not None:
            row["path"] = self.path
        if self.detail:
            row["detail"] = self.detail
        return row


@dataclass
class FileRow:
    """A file's line in the report: ``{path, sha256, bytes, fate, reason?}``."""

    path: str
    sha256: str | None
    bytes: int | None
    fate: str
    reason: str | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "fate": self.fate,
        }
        if self.reason is not None:
            row["reason"] = self.reason
        if self.detail:
            row["detail"] = self.detail
        return row
