"""The command line: ``python -m migrate_legacy SOURCE [options]`` imports a legacy storage root,
``python -m migrate_legacy assign-owner LEGACY_ID USER_ID`` gives an imported campaign its owner.

Without ``--database-url`` / ``--media-url`` / ``--data-dir`` it uses ``GAIA_DATABASE_URL``,
``GAIA_MEDIA_URL`` and ``GAIA_DATA_DIR`` (default ``var``): the store ``make run`` serves.
Exit status: 0 every file accounted for without rejection, 1 some rejected, 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from domain.adapters.config import InvalidDatabaseURL, store_env
from domain.adapters.event_store import open_sessions
from domain.adapters.media import InvalidMediaURL, check_media_url
from domain.application import SessionNotFound
from domain.errors import GaiaError
from domain.ids import legacy_session_id
from migrate_legacy import report as reports
from migrate_legacy.discovery import UnknownEnvironment
from migrate_legacy.job import DEFAULT_JOBS, DEFAULT_WORKERS, Config, run
from migrate_legacy.timestamps import NaiveZone, UnknownTimeZone

ASSIGN_OWNER = "assign-owner"


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GAIA_DATABASE_URL") or None,
        help="postgresql://... (default: GAIA_DATABASE_URL, else SQLite in the data dir)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("GAIA_DATA_DIR") or "var"),
        help="the service's data dir (default: GAIA_DATA_DIR, else ./var)",
    )


def import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m migrate_legacy",
        description="Import legacy Gaia campaign folders into event streams. "
        f"Also: python -m migrate_legacy {ASSIGN_OWNER} LEGACY_ID USER_ID.",
    )
    parser.add_argument("source", type=Path, metavar="SOURCE", help="the legacy storage root")
    parser.add_argument("--images", type=Path, metavar="DIR", help="the legacy image root")
    parser.add_argument("--env", metavar="NAME", help="limit the L2 scan to campaigns/NAME/")
    parser.add_argument(
        "--naive-tz", default="UTC", metavar="TZ", help="zone of naive timestamps (default UTC)"
    )
    parser.add_argument("--dry-run", action="store_true", help="parse and map; write nothing")
    parser.add_argument("--output", type=Path, metavar="REPORT.json", help="write the report")
    parser.add_argument(
        "--media-url",
        default=os.environ.get("GAIA_MEDIA_URL") or None,
        help="file:///dir or gs://bucket/prefix (default: GAIA_MEDIA_URL, else DATA_DIR/media)",
    )
    parser.add_argument("--default-owner", metavar="USER_ID", help="owner of ownerless campaigns")
    parser.add_argument(
        "--jobs",
        type=int,
        default=DEFAULT_JOBS,
        help="with one worker: campaigns processed at once, on threads (default 4)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="processes preparing campaigns while this one writes them in order "
        f"(default: the CPU count, {DEFAULT_WORKERS}); 1: all in this process",
    )
    _store_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if argv[:1] == [ASSIGN_OWNER]:
        return assign_owner(argv[1:])
    parser = import_parser()
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"SOURCE {args.source} is not a directory")
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images} is not a directory")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        zone = NaiveZone.named(args.naive_tz)
        if args.database_url:
            store_env(args.database_url, args.data_dir, name="gaia")  # validates the URL
        if args.media_url:
            check_media_url(args.media_url)
        config = Config(
            source=args.source,
            images=args.images,
            env=args.env,
            zone=zone,
            dry_run=args.dry_run,
            database_url=args.database_url,
            data_dir=args.data_dir,
            media_url=args.media_url,
            default_owner=args.default_owner,
            jobs=args.jobs,
            workers=args.workers,
        )
        result = run(config)
    except (UnknownTimeZone, InvalidDatabaseURL, InvalidMediaURL, UnknownEnvironment) as error:
        parser.error(str(error))
    if args.output is not None:
        reports.write(result, args.output)
    print(reports.summary(result))
    return int(result["exit_code"])


def assign_owner(argv: list[str]) -> int:
    """Make USER_ID the owner of the imported campaign LEGACY_ID (only while it has none)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m migrate_legacy {ASSIGN_OWNER}",
        description="Give an imported legacy campaign that has no owner its owner.",
    )
    parser.add_argument("legacy_id", metavar="LEGACY_ID", help="e.g. campaign_7")
    parser.add_argument("user_id", metavar="USER_ID", help="the owner's user id (JWT sub)")
    parser.add_argument("--display-name", help="the owner's display name (default: USER_ID)")
    _store_options(parser)
    args = parser.parse_args(argv)
    try:
        env = store_env(args.database_url, args.data_dir, name="gaia")
    except InvalidDatabaseURL as error:
        parser.error(str(error))
    session_id = legacy_session_id(args.legacy_id)
    sessions = open_sessions(env)
    try:
        session = sessions.get(session_id)
        if session.origin.get("kind") != "legacy":
            print(f"{args.legacy_id}: stream {session_id} is not an imported campaign")
            return 1
        if session.owner == args.user_id:
            print(f"{args.legacy_id} ({session_id}) is already owned by {args.user_id}")
            return 0
        written = sessions.assign_owner(
            session_id=session_id,
            user_id=args.user_id,
            display_name=args.display_name or args.user_id,
        )
    except SessionNotFound:
        print(f"{args.legacy_id}: no imported campaign (stream {session_id})", file=sys.stderr)
        return 1
    except GaiaError as error:
        print(f"{args.legacy_id}: {error.message}", file=sys.stderr)
        return 1
    finally:
        sessions.close()
    print(f"{args.legacy_id} ({session_id}) is now owned by {args.user_id} (v{written.version})")
    return 0
