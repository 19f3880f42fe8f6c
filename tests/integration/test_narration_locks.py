"""The narration lock across instances (PostgreSQL): one holder per session, a bounded wait for
the others, and the lock free again once given back."""

from __future__ import annotations

import time
from uuid import uuid4

from api.locks import NarrationLocks


def test_one_instance_at_a_time_holds_a_session_and_the_other_waits_a_bounded_time(
    postgres_url: str,
) -> None:
    first, second = NarrationLocks(postgres_url), NarrationLocks(postgres_url)
    try:
        session, other = uuid4(), uuid4()
        lease = first.acquire(session, timeout_s=5)
        assert lease is not None
        assert lease.connection is not None

        started = time.monotonic()
        assert second.acquire(session, timeout_s=0.3) is None  # held by the first instance
        assert 0.25 < time.monotonic() - started < 3
        elsewhere = second.acquire(other, timeout_s=0.3)  # another session is not held up
        assert elsewhere is not None

        first.release(lease)
        taken = second.acquire(session, timeout_s=5)
        assert taken is not None
        assert first.acquire(session, timeout_s=0.3) is None
        for held in (taken, elsewhere):
            second.release(held)
        again = first.acquire(session, timeout_s=5)
        assert again is not None
        first.release(again)
    finally:
        first.close()
        second.close()
