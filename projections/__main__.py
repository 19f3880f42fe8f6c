"""``python -m projections rebuild [NAME]``: drop a checkpointed view's rows and replay every
event into it from the start (the store and data dir come from GAIA_DATABASE_URL and
GAIA_DATA_DIR, as for the service)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from projections.database import ViewDatabase
from projections.media_index import MediaIndex
from projections.my_sessions import MySessions
from projections.runner import Projection, ProjectionRunner

PROJECTIONS: dict[str, type[Projection]] = {
    MySessions.name: MySessions,
    MediaIndex.name: MediaIndex,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m projections", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="rebuild views from zero")
    rebuild.add_argument("name", nargs="?", choices=sorted(PROJECTIONS), help="default: all")
    parser.add_argument("--database-url", default=os.environ.get("GAIA_DATABASE_URL") or None)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("GAIA_DATA_DIR", "var"))
    )
    args = parser.parse_args(argv)

    sessions = open_sessions(store_env(args.database_url, args.data_dir, name="gaia"))
    database = ViewDatabase(args.database_url, args.data_dir)
    try:
        for name in [args.name] if args.name else sorted(PROJECTIONS):
            started = time.perf_counter()
            runner = ProjectionRunner(sessions, database, PROJECTIONS[name]())
            position = runner.rebuild()
            took = time.perf_counter() - started
            print(f"{name}: rebuilt to position {position} in {took:.2f} s")
    finally:
        database.close()
        sessions.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
