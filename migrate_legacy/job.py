"""The migration run: discover, then for each campaign read -> parse -> map -> apply, and assemble
the report. Campaigns are prepared in worker processes and written here in discovery order, or
(one worker) prepared and written by a bounded pool of threads. The only module that ties the
stages together."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from domain.adapters.media import open_media_store
from migrate_legacy.apply import Importer, importer
from migrate_legacy.discovery import LAYOUT_RANK, Candidate, discover
from migrate_legacy.mapping import Options
from migrate_legacy.prepare import (
    Prepared,
    Settings,
    failed_entries,
    image_finder,
    no_images,
    prepare_group,
    prepare_in_worker,
)
from migrate_legacy.progress import Progress
from migrate_legacy.report import (
    FORMAT,
    campaign_entry,
    conflicts_of,
    exit_code,
    global_entry,
    orphan_entry,
    totals,
)
from migrate_legacy.timestamps import UTC_ZONE, NaiveZone

__all__ = ["DEFAULT_JOBS", "DEFAULT_WORKERS", "Config", "image_finder", "no_images", "run"]

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG: Final = 1  # prctl(2): the signal a process gets when its parent dies
DEFAULT_JOBS: Final = 4
DEFAULT_WORKERS: Final = os.cpu_count() or 1
AHEAD_PER_WORKER: Final = 2  # campaigns prepared ahead of the writer, per worker process


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
    jobs: int = DEFAULT_JOBS  # threads, when campaigns are prepared in this process
    workers: int = DEFAULT_WORKERS  # processes preparing campaigns; 1: in this process


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
    settings = Settings(
        Options(config.zone, config.default_owner),
        config.images,
        encode=config.workers > 1 and not config.dry_run,
    )
    progress = Progress(len(found.campaigns), stream, tty=tty)
    campaigns: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        workers = stack.enter_context(_worker_pool(config.workers)) if settings.encode else None
        job = stack.enter_context(
            importer(
                database_url=config.database_url,
                data_dir=config.data_dir,
                media=media,
                dry_run=config.dry_run,
                pool=config.jobs,
            )
        )
        if workers is not None:
            done = _in_workers(list(groups.values()), settings, job, workers, config.workers)
        else:
            done = _in_threads(list(groups.values()), settings, job, config.jobs)
        for entries in done:
            for entry in entries:
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


def _in_threads(
    groups: list[list[Candidate]], settings: Settings, job: Importer, jobs: int
) -> Iterator[list[dict[str, Any]]]:
    """Each group prepared and written by one of ``jobs`` threads; entries as groups finish."""

    def process(group: list[Candidate]) -> list[dict[str, Any]]:
        return write_group(group, prepare_group(group, settings, job.sessions), job)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="migrate") as pool:
        futures = [pool.submit(process, group) for group in groups]
        for future in as_completed(futures):
            yield future.result()


def _in_workers(
    groups: list[list[Candidate]],
    settings: Settings,
    job: Importer,
    pool: ProcessPoolExecutor,
    workers: int,
) -> Iterator[list[dict[str, Any]]]:
    """Groups prepared and encoded in worker processes, a few ahead of the writer (memory
    stays bounded), and written here one at a time in discovery order."""
    ahead: deque[tuple[list[Candidate], Future[Prepared]]] = deque()
    pending = iter(groups)

    def submit_next() -> None:
        group = next(pending, None)
        if group is not None:
            ahead.append((group, pool.submit(prepare_in_worker, group, settings)))

    for _ in range(AHEAD_PER_WORKER * workers):
        submit_next()
    while ahead:
        group, future = ahead.popleft()
        submit_next()
        yield write_group(group, future.result(), job)


@contextlib.contextmanager
def _worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Worker processes forked at once (so from a process that holds no store connection yet:
    the caller opens the store after this), each preparing one campaign at a time."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        pool.submit(int).result()  # a forking pool starts all its workers on the first task
        yield pool


def _exit_with_parent(parent: int) -> None:
    """In a worker: be killed with the job that forked it. A job killed outright never closes
    the pool, and its forked workers, which hold the pool's pipes themselves, would otherwise
    wait on them for ever. Linux's parent-death signal does it without a thread (a second
    thread in a worker made the SQLite import about 15% slower); elsewhere it is not asked."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the job was gone before the signal was asked for
        os._exit(1)


def write_group(group: list[Candidate], prepared: Prepared, job: Importer) -> list[dict[str, Any]]:
    """Write the prepared primary copy and return the group's report entries."""
    if prepared.failed or prepared.plan is None:
        return prepared.failed
    try:
        entry = campaign_entry(prepared.plan, job.apply(prepared.plan, prepared.built))
    except Exception as error:  # hazard H8: report the campaign and go on (logged with traceback)
        log.exception("campaign %s could not be processed", group[0].legacy_id)
        return failed_entries(group, error)
    return [entry, *prepared.copies]
