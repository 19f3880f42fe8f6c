"""The suite in pytest-xdist workers (``make test``): one PostgreSQL server for all of them, on
which every test still gets a database of its own, and the long tests started first.

Each worker is a pytest session of its own, so a session fixture runs once per worker. The
controller therefore provides the server before the workers start, as ``make test`` does with
``GAIA_TEST_DATABASE_URL``, instead of letting each worker start a cluster.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest

from tests.support.postgres import LocalClusterError, provide_database

URL_VARIABLE = "GAIA_TEST_DATABASE_URL"
LONG = "slow"  # the marker of the tests that take seconds


def is_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests out to xdist workers (``-n`` above 0)."""
    workers = config.getoption("numprocesses", default=None)
    return bool(workers) and not hasattr(config, "workerinput")


def share_one_server(config: pytest.Config) -> None:
    """In the controller, provide one server for every worker through ``GAIA_TEST_DATABASE_URL``
    (the workers inherit its environment), unless one is given or ``-m`` leaves PostgreSQL out."""
    if not is_controller(config) or os.environ.get(URL_VARIABLE):
        return
    if "not postgres" in (config.getoption("markexpr", default="") or ""):
        return
    stack = ExitStack()
    try:
        database = stack.enter_context(provide_database())
    except LocalClusterError:
        return  # each worker tries again, and its PostgreSQL tests fail with the reason
    os.environ[URL_VARIABLE] = database.url
    stack.callback(os.environ.pop, URL_VARIABLE, None)
    config.add_cleanup(stack.close)


def start_long_tests_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker, order the collection so that the long tests run first, one after another on
    each worker in turn, rather than on one worker at the end of the run while the others idle.

    ``--dist worksteal`` first hands each worker an equal, contiguous share of the collection
    (``pending // workers left``), runs each share from its head and steals from the tails;
    every worker collects alike, so the order is the same everywhere. Should the scheduler
    change, the order is still a valid one: only the balance would suffer.
    """
    workers = getattr(config, "workerinput", {}).get("workercount", 0)
    long = [item for item in items if item.get_closest_marker(LONG)]
    if workers < 2 or not long:  # one worker runs everything in order anyway
        return
    rest = [item for item in items if not item.get_closest_marker(LONG)]
    ordered: list[pytest.Item] = []
    left = len(items)
    for worker in range(workers):
        share = left // (workers - worker)
        left -= share
        mine = long[worker::workers]
        take = max(0, share - len(mine))
        ordered += mine + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest
