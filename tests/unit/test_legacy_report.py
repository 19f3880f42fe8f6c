"""The migration report's totals and exit code, and progress output on a terminal or not."""

from __future__ import annotations

import io
from typing import Any

from migrate_legacy.progress import Progress
from migrate_legacy.report import exit_code, totals


def campaign(status: str, *fates: str, written: int = 0) -> dict[str, Any]:
    files = [{"path": f"f{i}", "fate": fate} for i, fate in enumerate(fates)]
    for row in files:
        if row["fate"] == "rejected":
            row["reason"] = "invalid_json"
    return {
        "status": status,
        "files": files,
        "counts": {"messages": 2},
        "events": 3,
        "written": written,
        "warnings": ["invalid_json"] if "rejected" in fates else [],
    }


def test_totals_count_statuses_fates_reasons_and_warnings() -> None:
    campaigns = [
        campaign("imported", "imported", written=3),
        campaign("imported_partial", "imported", "rejected"),
    ]
    orphans = [{"files": [{"path": "o", "fate": "rejected", "reason": "not_a_campaign"}]}]
    result = totals(campaigns, orphans)
    assert result["statuses"]["imported"] == 1
    assert result["statuses"]["conflict"] == 0
    assert result["fates"] == {"imported": 2, "preserved": 0, "rejected": 2}
    assert result["reasons"] == {"invalid_json": 1, "not_a_campaign": 1}
    assert result["warnings"] == {"invalid_json": 1}
    assert (result["events"], result["events_written"], result["messages"]) == (6, 3, 4)


def test_the_exit_code_is_one_when_any_file_was_rejected() -> None:
    clean = {"totals": totals([campaign("imported", "imported", "preserved")], [])}
    dirty = {"totals": totals([campaign("imported_partial", "imported", "rejected")], [])}
    assert (exit_code(clean), exit_code(dirty)) == (0, 1)


def test_progress_draws_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    entry = {
        "status": "imported",
        "legacy_id": "campaign_1",
        "layout": "L3",
        "source": "c",
        "written": 5,
    }
    bar, lines = io.StringIO(), io.StringIO()
    on_tty, off_tty = Progress(2, bar, tty=True), Progress(2, lines, tty=False)
    for progress in (on_tty, off_tty):
        progress.campaign(entry)
        progress.close()
    assert bar.getvalue().startswith("\r[")
    assert "1/2 campaigns" in bar.getvalue()
    assert lines.getvalue() == "migrate: [1/2] imported campaign_1 (L3, 5 events) c\n"
