"""Rewinds: the owner takes the story back to an earlier quiet version. What came after stays in
the stream but is hidden from history; the views fold rewinds with the same functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from domain import campaign
from domain.errors import RuleViolation
from domain.roles import Role
from domain.session import turnlog
from domain.session.base import ActedEvent, SessionState
from domain.session.turnlog import TurnStatus


class InvalidRewind(RuleViolation):
    code = "invalid_rewind"


def hidden_by_rewind(to_version: int, rewind_version: int) -> tuple[int, int] | None:
    """The inclusive range of versions that the rewind recorded at ``rewind_version`` hides:
    every one after ``to_version`` before the rewind itself; None when there is none."""
    if to_version < rewind_version - 1:
        return to_version + 1, rewind_version - 1
    return None


def is_hidden(version: int, hidden: Iterable[Sequence[int]]) -> bool:
    """True when a rewind hid ``version`` (``hidden``: the ranges ``hidden_by_rewind`` gave)."""
    return any(low <= version <= high for low, high in hidden)


class Rewinds(SessionState):
    """Which versions history shows, and the rewind command."""

    class TimelineRewound(ActedEvent):
        TOPIC = "gaia.TimelineRewound"
        to_version: int

        def apply(self, session: SessionState) -> None:
            span = hidden_by_rewind(self.to_version, self.originator_version)
            if span is not None:
                session.hidden.append(list(span))
            session.turns = turnlog.rewound(session.turns, self.to_version)
            session.waiting = turnlog.waiting(session.turns)
            campaign.rewind(session.campaign, self.to_version)

    def is_visible(self, version: int) -> bool:
        """False for versions a rewind has hidden from history (the timeline keeps them)."""
        return 1 <= version <= self.version and not is_hidden(version, self.hidden)

    def is_quiet(self, version: int) -> bool:
        """True when ``version`` is visible and no turn was waiting for narration there."""
        return self.is_visible(version) and all(
            self.turn_state(turn_id, version) != TurnStatus.PENDING for turn_id in self.turns
        )

    def latest_quiet_version(self) -> int:
        version = self.version
        while version > 1 and not self.is_quiet(version):
            version -= 1
        return version

    def rewind(self, *, actor: str, to_version: int, at: datetime | None) -> None:
        self.require(actor, Role.OWNER)
        if not 1 <= to_version < self.version or not self.is_visible(to_version):
            raise InvalidRewind(
                "to_version must be an earlier visible version", to_version=to_version
            )
        if not self.is_quiet(to_version):
            raise InvalidRewind(
                "a turn was waiting for narration at that version", to_version=to_version
            )
        self.trigger_event(self.TimelineRewound, to_version=to_version, actor=actor, occurred_at=at)
