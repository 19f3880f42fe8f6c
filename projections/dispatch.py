"""Explicit event dispatch for views: each view declares, for every event type a session
records, the handler that folds it or that it is ``IGNORED``, in one ``EventTable``.

A table that leaves a type undecided fails ``tests/unit/test_view_dispatch.py``, so adding an
event type asks every view for a decision. Should an undecided event still reach a view, it
raises ``UndeclaredEvent``, which the view goes past as past any event it cannot apply.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Generic, TypeVar

from eventsourcing.domain import Aggregate

from domain.session import CampaignSession

EventType = type[Aggregate.Event]


def recorded_event_types(aggregate: type[Aggregate]) -> frozenset[EventType]:
    """The event classes ``aggregate`` records: its nested event classes (its own or inherited
    from a part of it) that name the ``TOPIC`` they are stored under, as the library decodes
    them. ``Created``, which the library derives for every aggregate, is left out: ours starts
    with an event of its own."""
    found = (getattr(aggregate, name) for name in dir(aggregate))
    return frozenset(
        cls
        for cls in found
        if isinstance(cls, type)
        and issubclass(cls, Aggregate.Event)
        and getattr(cls, "TOPIC", None)
        and cls is not aggregate.Created
    )


SESSION_EVENTS: Final = recorded_event_types(CampaignSession)


def stored_topic(event_type: EventType) -> str:
    """The topic events of ``event_type`` are stored under."""
    return str(getattr(event_type, "TOPIC"))  # noqa: B009 - ours declare it, the library's base not


class Ignored(enum.Enum):
    """The decision that a view has nothing to fold from an event type."""

    IGNORED = "ignored"


IGNORED: Final = Ignored.IGNORED

H = TypeVar("H", bound=Callable[..., Any])


class UndeclaredEvent(LookupError):
    """A view has no decision (a handler, or ``IGNORED``) for some event types."""

    def __init__(self, view: str, event_types: Iterable[type | str]) -> None:
        self.view = view
        self.event_types = sorted(t if isinstance(t, str) else t.__name__ for t in event_types)
        super().__init__(
            f"view {view!r} declares neither a handler nor IGNORED for "
            + ", ".join(self.event_types)
        )


class EventTable(Generic[H]):
    """What one view does with each event type: the handler that folds it, or ``IGNORED``.

    Event types are matched exactly (a decoded event is an instance of its own class), so a
    decision is never inherited by accident.
    """

    def __init__(self, view: str, decisions: Mapping[EventType, H | Ignored]) -> None:
        self.view = view
        self._decisions = dict(decisions)
        self._by_name = {t.__name__: decision for t, decision in self._decisions.items()}

    @property
    def declared(self) -> frozenset[EventType]:
        return frozenset(self._decisions)

    def undeclared(self, event_types: Iterable[EventType] = SESSION_EVENTS) -> set[EventType]:
        return {t for t in event_types if t not in self._decisions}

    def check(self, event_types: Iterable[EventType] = SESSION_EVENTS) -> None:
        """Raise ``UndeclaredEvent`` unless every one of ``event_types`` has a decision."""
        if missing := self.undeclared(event_types):
            raise UndeclaredEvent(self.view, missing)

    @property
    def ignored_topics(self) -> frozenset[str]:
        """The stored topics of the event types declared ``IGNORED``."""
        return frozenset(
            stored_topic(t) for t, decision in self._decisions.items() if decision is IGNORED
        )

    def handler(self, event: Aggregate.Event) -> H | None:
        """The handler for ``event``, or None when the view ignores its type."""
        try:
            decision = self._decisions[type(event)]
        except KeyError:
            raise UndeclaredEvent(self.view, [type(event)]) from None
        return None if isinstance(decision, Ignored) else decision

    def handler_named(self, name: str) -> H | None:
        """The handler for events of the type named ``name`` (a record's ``type``), or None
        when the view ignores that type."""
        try:
            decision = self._by_name[name]
        except KeyError:
            raise UndeclaredEvent(self.view, [name]) from None
        return None if isinstance(decision, Ignored) else decision
