"""Python's cycle collector held off while a fold builds a view that is thrown away after one
answer: the view is tens of thousands of dicts and lists, each of which would count toward a
collection that walks every object the process holds, while reference counting alone frees
them (a view has no cycles) as soon as the answer is made.

Threads that pause at once share one pause; the collector runs again when the last one ends,
and only if it ran before the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pausing = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection while the block runs (in any thread)."""
    global _pausing, _was_enabled  # noqa: PLW0603 - one pause for the whole process
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()
