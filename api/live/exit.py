"""When the server begins to shut down: SIGTERM or SIGINT, seen before the server waits for the
open connections (its lifespan shutdown comes only after them, too late to end the streams).

The process's handler for each signal (uvicorn's, which starts the server's shutdown) is chained,
not replaced, and put back when the watch ends; off the main thread, where no signal handler can
be installed, the watch never fires and the streams end at the lifespan shutdown instead.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Final

SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class ExitWatch:
    """Calls ``on_exit`` on the event loop, once, when the process gets a shutdown signal."""

    def __init__(self, on_exit: Callable[[], object]) -> None:
        self._on_exit = on_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Handler] = {}
        self.fired = False

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def stop(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._handle:  # nobody chained ours since
                signal.signal(sig, previous)
        self._previous.clear()
        self._loop = None

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        loop = self._loop
        if not self.fired and loop is not None and not loop.is_closed():
            self.fired = True
            loop.call_soon_threadsafe(self._on_exit)
        previous = self._previous.get(sig)
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:  # what the signal would have done without us
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)
