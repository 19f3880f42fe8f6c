"""Sliding-window rate limits kept in this process (each instance counts its own callers)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000


class RateLimiter:
    """At most ``limit`` events per ``window_s`` for each key."""

    def __init__(
        self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one event; returns 0 when allowed, else the seconds until one would be."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.001, hits[0] + self.window_s - now)
            hits.append(now)
            if len(self._hits) > MAX_KEYS:  # forget idle keys so memory stays bounded
                for idle in [
                    k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s
                ]:
                    del self._hits[idle]
            return 0.0


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class AcceptLimits:
    """How often invites may be accepted: per user and per client address."""

    def __init__(self, per_user_per_minute: int, per_address_per_minute: int) -> None:
        self.per_user = RateLimiter(per_user_per_minute)
        self.per_address = RateLimiter(per_address_per_minute)

    def wait_needed(self, user_id: str, address: str) -> float:
        """0 when this accept may go ahead, else seconds to wait (the attempt is not counted)."""
        return self.per_address.hit(address) or self.per_user.hit(user_id)
