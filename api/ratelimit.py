"""Quotas on what costs money or capacity: rates counted per instance with the ``limits``
library (fixed windows in memory), and the open-stream slots of this instance.

Rates and stream slots are per instance: behind N instances a caller gets up to N times a
rate. Caps that must hold for the whole service (turns waiting for narration, stored bytes per
session) are not counted here but read from the store and its views (see the README).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from api.errors import ApiError
from api.settings import Settings

STREAM_RETRY_AFTER_S: Final = 5  # a refused stream may try again once another one has ended


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def rate_limited(limit: str, wait_s: float, message: str, **details: Any) -> ApiError:
    """The one refusal of every quota: 429 ``rate_limited``, naming the limit, with Retry-After."""
    return ApiError(
        429, "rate_limited", message, headers=retry_after_header(wait_s), limit=limit, **details
    )


class SweptMemoryStorage(MemoryStorage):
    """``limits``' memory storage with its expired keys swept by the caller (``sweep``, from the
    service's upkeep loop) instead of by a timer thread that it starts again, 10 ms after the
    last one ended, on every counted hit. Those thread starts, about one per request under load,
    cost the turn path a fifth of its throughput (measured: 134 against 103 turns/s on one
    session). Counting is unchanged: a read of an expired key still finds it empty."""

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()  # the one the constructor started

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - the library's own name
        """The storage's own hook (name-mangled) that would start the timer thread: nothing."""

    def sweep(self) -> None:
        """Forget every key whose window has ended."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class Rate:
    """At most ``item`` events per window for each key, counted in this process."""

    def __init__(self, name: str, item: RateLimitItem, storage: MemoryStorage) -> None:
        self.name, self.item, self._storage = name, item, storage
        self._limiter = FixedWindowRateLimiter(storage)

    def take(self, key: str) -> float:
        """Count one event; 0 when allowed, else the seconds until the window resets (a refused
        attempt is not counted)."""
        if self._limiter.hit(self.item, self.name, key):
            return 0.0
        self._storage.decr(self.item.key_for(self.name, key))
        reset_at, _ = self._limiter.get_window_stats(self.item, self.name, key)
        return max(0.001, reset_at - time.time())

    def give_back(self, key: str) -> None:
        """Uncount an event that turned out to cost nothing (an idempotent repeat)."""
        self._storage.decr(self.item.key_for(self.name, key))


class Rates:
    """Every rate quota of one instance, built from the settings; all of them in one store."""

    def __init__(self, settings: Settings) -> None:
        storage = SweptMemoryStorage()  # one for all; ``sweep`` forgets ended windows
        self._storage = storage
        self.enabled = settings.quotas_enabled

        def rate(name: str, per: str) -> Rate:
            # Each rate's setting is named after it: <name>_per_minute or <name>_per_hour.
            window = RateLimitItemPerMinute if per == "minute" else RateLimitItemPerHour
            return Rate(name, window(int(getattr(settings, f"{name}_per_{per}"))), storage)

        self.invite_accepts_per_user = rate("invite_accepts_per_user", "minute")
        self.invite_accepts_per_address = rate("invite_accepts_per_address", "minute")
        self.guest_signups_per_address = rate("guest_signups_per_address", "hour")
        self.sessions_per_user = rate("sessions_per_user", "hour")
        self.turns_per_user = rate("turns_per_user", "minute")
        self.turns_per_session = rate("turns_per_session", "minute")
        self.retries_per_turn = rate("retries_per_turn", "hour")
        self.uploads_per_user = rate("uploads_per_user", "hour")
        self.uploads_per_session = rate("uploads_per_session", "hour")

    def sweep(self) -> None:
        """Forget the counts of windows that have ended (the upkeep loop calls it)."""
        self._storage.sweep()

    def take(self, message: str, *checks: tuple[Rate, str]) -> None:
        """Count one event against each ``(rate, key)``, or raise 429 naming the first rate
        that is used up; then the event counts against none of them."""
        if not self.enabled:
            return
        taken: list[tuple[Rate, str]] = []
        for rate, key in checks:
            wait = rate.take(key)
            if wait:
                for earlier, earlier_key in taken:
                    earlier.give_back(earlier_key)
                raise rate_limited(rate.name, wait, message)
            taken.append((rate, key))

    def give_back(self, *checks: tuple[Rate, str]) -> None:
        if self.enabled:
            for rate, key in checks:
                rate.give_back(key)


@dataclass
class StreamSlot:
    """One open stream's place; ``release`` frees it once, however often it is called."""

    slots: StreamSlots
    user_id: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots.release(self.user_id)


@dataclass
class StreamSlots:
    """How many event streams are open on this instance, in all and per user."""

    per_user: int
    per_instance: int
    enabled: bool = True
    _open: Counter[str] = field(default_factory=Counter)
    _total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, user_id: str) -> StreamSlot:
        """A slot for one more stream of ``user_id``, or 429 when a cap is reached."""
        with self._lock:
            if self.enabled and self._total >= self.per_instance:
                limit, cap = "streams_per_instance", self.per_instance
            elif self.enabled and self._open[user_id] >= self.per_user:
                limit, cap = "streams_per_user", self.per_user
            else:
                self._open[user_id] += 1
                self._total += 1
                return StreamSlot(self, user_id)
        raise rate_limited(
            limit, STREAM_RETRY_AFTER_S, "too many open event streams; close one first", max=cap
        )

    def release(self, user_id: str) -> None:
        with self._lock:
            self._total -= 1
            self._open[user_id] -= 1
            if self._open[user_id] <= 0:
                del self._open[user_id]

    def open_count(self, user_id: str | None = None) -> int:
        with self._lock:
            return self._total if user_id is None else self._open[user_id]
