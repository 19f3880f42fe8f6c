"""The quotas' counts: kept by ``limits`` in memory, swept by the service, never by a thread
started per request."""

from __future__ import annotations

import threading

from limits import RateLimitItemPerMinute

from api.ratelimit import Rate, SweptMemoryStorage


def _timers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]


def test_counting_hits_starts_no_thread() -> None:
    storage = SweptMemoryStorage()
    rate = Rate("turns_per_user", RateLimitItemPerMinute(1000), storage)
    for timer in _timers():  # a timer of the library's lives 10 ms: let any such one end
        timer.join(timeout=5)

    for n in range(5):
        assert rate.take(f"user-{n}") == 0.0
        assert _timers() == []


def test_a_sweep_forgets_windows_that_have_ended_and_keeps_the_others() -> None:
    storage = SweptMemoryStorage()
    rate = Rate("turns_per_user", RateLimitItemPerMinute(2), storage)
    rate.take("ended")
    rate.take("current")
    ended = RateLimitItemPerMinute(2).key_for("turns_per_user", "ended")
    storage.expirations[ended] = 0.0  # its window is over

    storage.sweep()

    assert ended not in storage.storage
    assert sum(storage.storage.values()) == 1
    assert rate.take("current") == 0.0
    assert rate.take("current") > 0  # the third within the window is still refused
