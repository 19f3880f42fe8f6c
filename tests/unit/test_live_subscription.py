"""A live stream's subscription: how its stream waits for offers, closes and timer pokes."""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from uuid import uuid4

from api.live.hub import Subscription
from api.live.messages import Item


def _item(version: int) -> Item:
    return Item(version, "SessionRenamed", f"id: {version}\r\n\r\n".encode())


def test_an_offer_wakes_a_waiting_stream() -> None:
    async def scenario() -> list[int]:
        subscription = Subscription(uuid4())
        waiter = asyncio.create_task(subscription.wait())
        await asyncio.sleep(0)  # the stream now waits
        assert not waiter.done()
        subscription.offer([_item(1)])
        await asyncio.wait_for(waiter, timeout=5)
        return [item.version for item in subscription.take().items]

    assert asyncio.run(scenario()) == [1]


def test_a_wait_returns_at_once_when_something_came_since_the_last_take() -> None:
    async def scenario() -> None:
        subscription = Subscription(uuid4())
        subscription.offer_delta(b"delta")
        await asyncio.wait_for(subscription.wait(), timeout=0.001)  # never suspends
        subscription.take()
        waiter = asyncio.create_task(subscription.wait())
        await asyncio.sleep(0)
        assert not waiter.done()  # taken: the next wait waits again
        subscription.poke()
        await asyncio.wait_for(waiter, timeout=5)

    asyncio.run(scenario())


def test_closing_wakes_a_waiting_stream_with_the_reason() -> None:
    async def scenario() -> str | None:
        subscription = Subscription(uuid4())
        waiter = asyncio.create_task(subscription.wait())
        await asyncio.sleep(0)
        subscription.close("shutdown")
        subscription.close("recycled")  # the first reason stands
        await asyncio.wait_for(waiter, timeout=5)
        return subscription.closed

    assert asyncio.run(scenario()) == "shutdown"


def test_a_cancelled_wait_leaves_the_subscription_usable() -> None:
    async def scenario() -> None:
        subscription = Subscription(uuid4())
        waiter = asyncio.create_task(subscription.wait())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        subscription.offer([_item(1)])  # no one waits: nothing to wake, nothing fails
        await asyncio.wait_for(subscription.wait(), timeout=5)

    asyncio.run(scenario())


def test_an_open_subscription_keeps_no_event_or_queue_of_waiters() -> None:
    # An asyncio.Event per stream keeps a deque of waiters (about 600 bytes) for the stream's
    # whole life; the subscription makes a future only while its stream waits.
    async def scenario() -> list[object]:
        subscription = Subscription(uuid4())
        subscription.offer([_item(1)])
        await subscription.wait()
        subscription.take()
        return gc.get_referents(subscription)

    held = asyncio.run(scenario())
    assert not [o for o in held if isinstance(o, (asyncio.Event, deque, asyncio.Future))]
