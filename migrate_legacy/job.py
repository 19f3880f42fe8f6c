"""The migration run: discover, then for each campaign read -> parse -> map -> apply on a bounded
pool of threads, and assemble the report. The only module that ties the stages together."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from domain.adapters.media import open_media_store
from domain.ids import legacy_session_id
from migrate_legacy.apply import importer
from migrate_legacy.campaign import ImageFinder, ParsedCampaign, parse_campaign
from migrate_legacy.discovery import LAYOUT_RANK, Candidate, discover
from migrate_legacy.mapping import Options, map_campaign
from migrate_legacy.messages import is_prefix
from migrate_legacy.model import (
    CONFLICT,
    COUNT_KEYS,
    REJECTED,
    STATUS_REJECTED,
    SUPERSEDED,
    FileRow,
)
from migrate_legacy.progress import Progress
from migrate_legacy.report import (
    FORMAT,
    campaign_entry,
    conflicts_of,
    copy_entry,
    exit_code,
    global_entry,
    orphan_entry,
    totals,
)
from migrate_legacy.sources import Loaded, SourceFile, is_present, load
from migrate_legacy.timestamps import UTC_ZONE, NaiveZone

log = logging.getLogger(__name__)
DEFAULT_JOBS: Final = 4
IMAGE_TYPE: Final = re.compile(r"^[a-z_]+$")
INTERNAL_ERROR: Final = "internal_error"


@dataclass(frozen=True)
class Config:
    source: Path
    images: Path | None = None
    env: str | None = None
    zone: NaiveZone = UTC_ZONE
    dry_run: bool = False
    database_url: str | None = None
    data_dir: Path = Path("var")
    media_url: str | None = None  # None: <data_dir>/media, where the API serves media from
    default_owner: str | None = None
    jobs: int = DEFAULT_JOBS


def run(config: Config, *, stream: TextIO | None = None, tty: bool | None = None) -> dict[str, Any]:
    """Run the migration and return its report (``report["exit_code"]`` says how it went)."""
    started_at = datetime.now(UTC)
    found = discover(config.source, env=config.env, images=config.images)
    groups: dict[str, list[Candidate]] = {}
    for candidate in found.campaigns:
        groups.setdefault(candidate.legacy_id, []).append(candidate)
    media = None
    if not config.dry_run:
        media = open_media_store(config.media_url or str(config.data_dir / "media"))
    options = Options(config.zone, config.default_owner)
    finder = image_finder(config.images)
    progress = Progress(len(found.campaigns), stream, tty=tty)
    campaigns: list[dict[str, Any]] = []
    with (
        importer(
            database_url=config.database_url,
            data_dir=config.data_dir,
            media=media,
            dry_run=config.dry_run,
            pool=config.jobs,
        ) as job,
        ThreadPoolExecutor(max_workers=config.jobs, thread_name_prefix="migrate") as pool,
    ):

        def process(group: list[Candidate]) -> list[dict[str, Any]]:
            return process_group(group, config.zone, options, finder, job.apply)

        futures = [pool.submit(process, group) for group in groups.values()]
        for future in as_completed(futures):
            for entry in future.result():
                progress.campaign(entry)
                campaigns.append(entry)
    progress.close()
    campaigns.sort(key=lambda c: (c["legacy_id"], -LAYOUT_RANK[c["layout"]], c["source"]))
    orphans = [orphan_entry(orphan) for orphan in found.orphans]
    report: dict[str, Any] = {
        "format": FORMAT,
        "source": str(config.source),
        "images": str(config.images) if config.images else None,
        "env": config.env,
        "naive_tz": config.zone.name,
        "dry_run": config.dry_run,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "campaigns": campaigns,
        "orphans": orphans,
        "global": [global_entry(item) for item in found.global_items],
        "conflicts": conflicts_of(campaigns),
        "skipped_environments": found.skipped_environments,
        "totals": totals(campaigns, orphans),
    }
    report["exit_code"] = exit_code(report)
    return report


def process_group(
    group: list[Candidate],
    zone: NaiveZone,
    options: Options,
    finder: ImageFinder,
    apply: Callable[[Any], Any],
) -> list[dict[str, Any]]:
    """All copies of one legacy id: the primary is imported, the others are reported
    (docs/legacy-format.md#copies)."""
    try:
        parsed = [parse_campaign(c, [load(f) for f in c.files], zone) for c in group]
        primary, *others = sorted(parsed, key=_precedence)
        plan = map_campaign(primary, options, finder)
        entries = [campaign_entry(plan, apply(plan))]
        for copy in others:
            reason = (
                SUPERSEDED if is_prefix(copy.history or [], primary.history or []) else CONFLICT
            )
            copy_plan = map_campaign(copy, options, no_images)
            entries.append(copy_entry(copy_plan, reason, primary.candidate.source))
    except Exception as error:  # hazard H8: report the campaign and go on (logged with traceback)
        log.exception("campaign %s could not be processed", group[0].legacy_id)
        return [_failed(candidate, error) for candidate in group]
    return entries


def _precedence(parsed: ParsedCampaign) -> tuple[int, int, str]:
    """L3 over L2 over L1; within a layout the longer history, then the path."""
    history = len(parsed.history or [])
    return (-LAYOUT_RANK[parsed.candidate.layout], -history, parsed.candidate.source)


def _failed(candidate: Candidate, error: Exception) -> dict[str, Any]:
    detail = f"{type(error).__name__}: {error}"[:300]
    rows = [FileRow(f.rel, None, None, REJECTED, INTERNAL_ERROR, detail) for f in candidate.files]
    return {
        "legacy_id": candidate.legacy_id,
        "stream_id": str(legacy_session_id(candidate.legacy_id)),
        "layout": candidate.layout,
        "source": candidate.source,
        "display_name": candidate.legacy_id,
        "status": STATUS_REJECTED,
        "awaiting_reply": False,
        "counts": dict.fromkeys(COUNT_KEYS, 0),
        "warnings": [],
        "warning_details": [],
        "files": [row.as_json() for row in rows],
        "events": 0,
        "written": 0,
        "version": None,
        "detail": detail,
    }


def image_finder(images: Path | None) -> ImageFinder:
    """Look for a binary under the image root in the order of docs/legacy-format.md#images; the
    first hit wins."""

    def find(legacy_id: str, kind: str, name: str) -> Loaded | None:
        if images is None:
            return None
        folders = ([f"{kind}s"] if IMAGE_TYPE.match(kind) else []) + ["images"]
        places = [images / legacy_id / folder / name for folder in folders]
        places += [images / legacy_id / name, images / name]
        for path in places:
            if is_present(path):
                return load(SourceFile(path, path.relative_to(images).as_posix(), name))
        return None

    return find


def no_images(legacy_id: str, kind: str, name: str) -> Loaded | None:
    """For copies that are never written: their binaries are not even read."""
    return None
