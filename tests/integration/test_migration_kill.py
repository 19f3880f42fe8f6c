"""A migration killed with SIGKILL partway, then started again, ends complete with no duplicate
events (each campaign's stream is written in one transaction), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from domain.ids import legacy_session_id
from migrate_legacy.job import Config, run
from tests.support.legacy_corpus import simple_history, write_json
from tests.support.server_process import wait_until
from tests.support.stores import StoreConfig

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS, MESSAGES = 40, 200
KILL_AFTER = 5  # campaigns reported done before the kill
WATCHDOG_S = 120
WORKERS_GONE_S = 5.0


def corpus(root: Path) -> list[str]:
    ids = [f"campaign_{n}" for n in range(CAMPAIGNS)]
    for legacy_id in ids:
        write_json(root / legacy_id / "logs/chat_history.json", simple_history(MESSAGES))
        write_json(root / legacy_id / "metadata.json", {"name": legacy_id.title()})
    return ids


def start_and_kill(source: Path, store: StoreConfig) -> int:
    """Run the job in a child process and SIGKILL it once KILL_AFTER campaigns are reported."""
    command = [
        sys.executable,
        "-m",
        "migrate_legacy",
        str(source),
        "--data-dir",
        str(store.data_dir),
    ]
    if store.database_url:
        command += ["--database-url", store.database_url]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(WATCHDOG_S, child.kill)
    watchdog.start()
    done, workers = 0, []
    try:
        assert child.stderr is not None
        for line in child.stderr:
            done += line.startswith("migrate: [")
            if done == KILL_AFTER:
                workers = children_of(child.pid)
                assert workers, "the job runs its campaigns in worker processes"
                child.send_signal(signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.wait(30)
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    # Its worker processes do not outlive it.
    wait_until(
        lambda: not [pid for pid in workers if Path(f"/proc/{pid}").exists()],
        timeout=WORKERS_GONE_S,
        what=f"the killed job's worker processes {workers} to end",
    )
    return done


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in listed.split()]


@pytest.mark.slow
def test_a_run_killed_halfway_then_restarted_ends_complete_without_duplicates(
    store: StoreConfig, tmp_path: Path
) -> None:
    source = tmp_path / "legacy"
    ids = corpus(source)
    start_and_kill(source, store)

    config = Config(source=source, database_url=store.database_url, data_dir=store.data_dir)
    report = run(config, stream=io.StringIO(), tty=False)
    statuses = Counter(c["status"] for c in report["campaigns"])
    assert set(statuses) <= {"imported", "already_imported"}
    assert statuses["already_imported"] >= KILL_AFTER
    assert statuses["imported"] > 0  # the kill came before the end
    assert sum(statuses.values()) == CAMPAIGNS

    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        for legacy_id in ids:
            events = list(sessions.events.get(legacy_session_id(legacy_id)))
            assert [e.originator_version for e in events] == list(range(1, MESSAGES + 2))
            positions = [e.legacy["position"] for e in events[1:]]
            assert positions == list(range(MESSAGES))
        position = sessions.max_position()
        again = run(config, stream=io.StringIO(), tty=False)
        assert {c["status"] for c in again["campaigns"]} == {"already_imported"}
        assert sessions.max_position() == position
    finally:
        sessions.close()
