"""Calls made in a worker thread that a shutdown can wait out.

A coroutine cancelled while its call runs in a thread stops waiting, but the thread runs on:
closing the store under it would pull the connection from under a running query (on SQLite, a
crash of the process). ``ThreadTrips`` counts the calls still running, so that ``wait_out``
returns only once none is left, and a call cancelled before its thread took it never starts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from anyio import to_thread

T = TypeVar("T")


class ThreadTrips:
    """Runs calls in anyio's worker threads and knows which of them are still running."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running = 0
        self._none_running = threading.Event()
        self._none_running.set()

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a worker thread; the call is counted from when it is asked for
        until it returns, or until a cancellation finds it not yet started."""
        # Claimed once: by the thread that starts the call, or by a caller that gave up first.
        ticket = threading.Lock()

        def call() -> T:
            if not ticket.acquire(blocking=False):  # the caller gave up before it started
                raise asyncio.CancelledError
            try:
                return func(*args)
            finally:
                self._leave()

        with self._guard:
            self._running += 1
            self._none_running.clear()
        try:
            return await to_thread.run_sync(call)
        finally:
            if ticket.acquire(blocking=False):  # never started, and now never will
                self._leave()

    def _leave(self) -> None:
        with self._guard:
            self._running -= 1
            if self._running == 0:
                self._none_running.set()

    def wait_out(self, timeout: float) -> bool:
        """Block until no call runs (True), or until ``timeout`` (False)."""
        return self._none_running.wait(timeout)
