"""Stopping the service runs every step, in the reverse order of starting, even when one fails:
the composition root's exit stack goes on to the next step and reports the failure at the end.
A service that fails half-built closes what it had opened."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from api import composition
from api.live import LiveHub, StoreTail
from api.locks import NarrationLocks
from api.media import Media
from api.operations import Operations
from api.settings import Settings
from api.worker import TurnWorker
from domain.application import Sessions
from projections.database import ViewDatabase
from tests.support.api import settings_for
from tests.support.stores import StoreConfig

# The steps watched here, each a method of the class that owns it.
STEPS: tuple[tuple[type[Any], str], ...] = (
    (Operations, "stop"),
    (StoreTail, "stop"),
    (LiveHub, "stop"),
    (TurnWorker, "stop"),
    (Media, "stop"),
    (NarrationLocks, "close"),
    (ViewDatabase, "close"),
    (Sessions, "close"),
)
FAILING = {"Operations.stop", "TurnWorker.stop"}  # the first step, and one in the middle


class StepFailed(Exception):
    pass


def watch(monkeypatch: pytest.MonkeyPatch, cls: type[Any], name: str, ran: list[str]) -> None:
    """Record each call of ``cls.name`` (after it ran) on an object built from here on; raise
    afterwards if the step is failing. Objects of earlier tests (a server thread still closing)
    are left out, so that only this service's steps are recorded."""
    step = f"{cls.__name__}.{name}"
    original: Callable[..., Any] = getattr(cls, name)
    built: weakref.WeakSet[Any] = weakref.WeakSet()
    original_init: Callable[..., None] = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        built.add(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", init)

    def done(target: Any) -> None:
        if target not in built:
            return
        ran.append(step)
        if step in FAILING:
            raise StepFailed(step)

    if inspect.iscoroutinefunction(original):

        async def async_step(self: Any) -> None:
            await original(self)
            done(self)

        monkeypatch.setattr(cls, name, async_step)
    else:

        def sync_step(self: Any) -> None:
            original(self)
            done(self)

        monkeypatch.setattr(cls, name, sync_step)


async def start_and_stop(settings: Settings) -> None:
    async with composition.started(settings):
        pass


def test_a_failing_shutdown_step_does_not_keep_the_others_from_running(
    sqlite_store: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    for cls, name in STEPS:
        watch(monkeypatch, cls, name, ran)
    with pytest.raises(StepFailed, match=r"TurnWorker\.stop"):  # the last failure, chained
        asyncio.run(start_and_stop(settings_for(sqlite_store)))
    assert ran == [f"{cls.__name__}.{name}" for cls, name in STEPS]


def test_a_service_that_fails_half_built_closes_what_it_opened(
    sqlite_store: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    for cls, name in STEPS:
        watch(monkeypatch, cls, name, ran)

    def no_media_store(_settings: Settings) -> None:
        raise StepFailed("the media store is out of reach")

    monkeypatch.setattr(composition, "open_store", no_media_store)
    with pytest.raises(StepFailed, match="media store"):
        asyncio.run(start_and_stop(settings_for(sqlite_store)))
    assert ran == ["ViewDatabase.close", "Sessions.close"]
