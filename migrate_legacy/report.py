"""The migration report (docs/legacy-format.md#report): one entry per campaign copy, the orphans,
the global folders, the conflicts and the totals, plus the exit code they imply."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from migrate_legacy.discovery import GlobalItem, Orphan
from migrate_legacy.mapping import Plan
from migrate_legacy.model import (
    NOT_A_CAMPAIGN,
    PRESERVED,
    REJECTED,
    STATUS_CONFLICT,
    STATUS_REJECTED,
    SUPERSEDED,
    FileRow,
)
from migrate_legacy.sources import load

if TYPE_CHECKING:  # apply builds with prepare, which writes report entries
    from migrate_legacy.apply import Outcome

FORMAT: Final = "gaia-legacy-migration/1"
EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
STATUSES: Final = ("imported", "imported_partial", "already_imported", "rejected", "conflict")
FATES: Final = ("imported", "preserved", "rejected")


def campaign_entry(plan: Plan, outcome: Outcome) -> dict[str, Any]:
    """The report entry of a campaign that was (or would be) written, or found in the store."""
    rows = plan.rows
    if outcome.reason is not None:  # nothing of it was written: every file is rejected
        rows = [_reject(row, outcome.reason, outcome.detail) for row in rows]
    entry = _entry(plan, outcome.status, rows)
    entry |= {"events": plan.events, "written": outcome.written, "version": outcome.version}
    if outcome.changes:
        entry["conflict"] = {"detail": outcome.detail, **outcome.changes}
    elif outcome.detail:
        entry["detail"] = outcome.detail
    return entry


def copy_entry(plan: Plan, reason: str, primary: str) -> dict[str, Any]:
    """A lower copy of a campaign that another copy takes precedence over: never written
    (docs/legacy-format.md#copies)."""
    status = STATUS_REJECTED if reason == SUPERSEDED else STATUS_CONFLICT
    detail = f"{primary} takes precedence"
    entry = _entry(plan, status, [_reject(row, reason, detail) for row in plan.rows])
    return entry | {
        "events": 0,
        "written": 0,
        "version": None,
        "reason": reason,
        "primary": primary,
    }


def _entry(plan: Plan, status: str, rows: list[FileRow]) -> dict[str, Any]:
    counts = dict(plan.counts)
    counts["preserved"] = sum(1 for row in rows if row.fate == PRESERVED)
    codes = list(dict.fromkeys(n.code for n in plan.notices))
    return {
        "legacy_id": plan.legacy_id,
        "stream_id": str(plan.stream_id),
        "layout": plan.layout,
        "source": plan.source,
        "display_name": plan.display_name,
        "status": status,
        "awaiting_reply": plan.awaiting_reply,
        "counts": counts,
        "warnings": codes,
        "warning_details": [n.as_json() for n in plan.notices],
        "files": [row.as_json() for row in rows],
        **plan.extra,
    }


def _reject(row: FileRow, reason: str, detail: str) -> FileRow:
    if row.fate == REJECTED:
        return row
    return replace(row, fate=REJECTED, reason=reason, detail=f"{detail} (else {row.fate})")


def orphan_entry(orphan: Orphan) -> dict[str, Any]:
    files = []
    for file in orphan.files:
        loaded = load(file)
        row = FileRow(file.rel, loaded.sha256, loaded.size, REJECTED, NOT_A_CAMPAIGN, loaded.detail)
        files.append(row.as_json())
    return {"source": orphan.source, "layout": orphan.layout, "files": files}


def global_entry(item: GlobalItem) -> dict[str, Any]:
    return {"path": item.path, "kind": item.kind, "root": item.root}


def conflicts_of(campaigns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Campaigns listed under conflicts: copies that differ, and sources changed since import."""
    return [
        {
            "legacy_id": c["legacy_id"],
            "stream_id": c["stream_id"],
            "source": c["source"],
            "kind": "copies_differ" if "primary" in c else "source_changed",
            **({"primary": c["primary"]} if "primary" in c else {}),
        }
        for c in campaigns
        if c["status"] == STATUS_CONFLICT
    ]


def totals(campaigns: list[dict[str, Any]], orphans: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [f for c in campaigns for f in c["files"]] + [f for o in orphans for f in o["files"]]
    statuses = Counter(c["status"] for c in campaigns)
    fates = Counter(f["fate"] for f in rows)
    warnings = Counter(code for c in campaigns for code in c["warnings"])
    return {
        "campaigns": len(campaigns),
        "statuses": {status: statuses.get(status, 0) for status in STATUSES},
        "files": len(rows),
        "fates": {fate: fates.get(fate, 0) for fate in FATES},
        "reasons": dict(sorted(Counter(f["reason"] for f in rows if "reason" in f).items())),
        "messages": sum(
            c["counts"]["messages"] for c in campaigns if c["status"] != STATUS_REJECTED
        ),
        "events": sum(c["events"] for c in campaigns),
        "events_written": sum(c["written"] for c in campaigns),
        "orphans": len(orphans),
        "warnings": dict(sorted(warnings.items())),
    }


def exit_code(report: dict[str, Any]) -> int:
    """0 if every file was accounted for without a rejection, else 1."""
    return EXIT_REJECTED if report["totals"]["fates"]["rejected"] else EXIT_OK


def write(report: dict[str, Any], path: Path) -> None:
    """Write the report as UTF-8 JSON, atomically (a reader never sees half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    t = report["totals"]
    statuses = ", ".join(f"{n} {s}" for s, n in t["statuses"].items() if n)
    fates = ", ".join(f"{n} {f}" for f, n in t["fates"].items() if n)
    dry = " (dry run: nothing written)" if report["dry_run"] else ""
    return (
        f"campaigns: {t['campaigns']} ({statuses or 'none'}){dry}\n"
        f"files: {t['files']} ({fates or 'none'}); orphans: {t['orphans']}; "
        f"global: {len(report['global'])}\n"
        f"messages: {t['messages']}; events written: {t['events_written']} of {t['events']}"
    )
