"""What every part of the CampaignSession aggregate shares: the bases of its events, the state
it keeps, and the access rule (a member with at least the needed role)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from eventsourcing.domain import Aggregate

from domain import campaign, roles
from domain.errors import Forbidden, NotFound, RuleViolation
from domain.session import turnlog
from domain.session.turnlog import TurnStatus

if TYPE_CHECKING:
    # Type checkers read each concern as the aggregate it is part of. At run time the concerns
    # are plain mixins: the library builds its event machinery once, for CampaignSession itself.
    _Aggregate = Aggregate
else:
    _Aggregate = object


class SessionEvent(Aggregate.Event):
    """Base of the session's events. ``occurred_at`` is when it happened in the world (an
    imported message keeps its own time), apart from the library's recorded ``timestamp``."""

    occurred_at: datetime | None


class ActedEvent(SessionEvent):
    """An event a member caused: ``actor`` is their user id, None when no member did (an
    import, an operator)."""

    actor: str | None


class Member(TypedDict):
    role: str
    display_name: str


class Invite(TypedDict):
    token_sha256: str
    role: str
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


class RememberedTurn(TypedDict):
    turn_id: str
    version: int
    fingerprint: str


class NotAMember(NotFound):
    code = "session_not_found"


class RoleTooLow(Forbidden):
    code = "forbidden"


class InvalidValue(RuleViolation):
    code = "invalid_value"


class NotALegacySession(RuleViolation):
    code = "not_a_legacy_session"


def require_in(value: str, allowed: frozenset[str], field: str) -> None:
    if value not in allowed:
        names = sorted(str(name) for name in allowed)
        raise InvalidValue(f"{field} must be one of {names}", field=field, value=value)


class SessionState(_Aggregate):
    """The state the aggregate keeps: only what its commands must check (set by ``__init__``
    in aggregate.py and by the events' ``apply``). The transcript lives in projections."""

    title: str
    owner: str | None
    settings: dict[str, Any]
    origin: dict[str, Any]
    members: dict[str, Member]
    blocked: list[str]
    invites: dict[str, Invite]
    turns: dict[str, str]  # turn id -> status log (turnlog.py)
    waiting: dict[str, int]  # turn id -> version it started waiting for narration at
    hidden: list[list[int]]  # inclusive version ranges hidden by rewinds (rewind.py)
    idempotency: dict[str, RememberedTurn]  # recent Idempotency-Keys (play.py)
    campaign: campaign.Log  # characters, scene, combat (domain/campaign.py)

    def role_of(self, user_id: str) -> str | None:
        member = self.members.get(user_id)
        return member["role"] if member else None

    def require(self, actor: str, needed: str) -> None:
        """Raise unless ``actor`` is a member with at least the ``needed`` role."""
        role = self.role_of(actor)
        if role is None:
            raise NotAMember("session not found", session_id=str(self.id))
        if not roles.at_least(role, needed):
            # The same answer as the API's own access check (api/deps.py).
            raise RoleTooLow(f"this needs the {needed} role", needed=needed)

    def turn_state(self, turn_id: str, at_version: int | None = None) -> TurnStatus | None:
        return turnlog.status_at(self.turns.get(turn_id, ""), at_version)

    def pending_turns(self) -> list[str]:
        """Turns waiting for narration, in the order they started waiting."""
        return [tid for tid, _ in sorted(self.waiting.items(), key=lambda item: item[1])]

    def _require_legacy(self) -> None:
        if self.origin.get("kind") != "legacy":
            raise NotALegacySession(
                "only an imported legacy session takes legacy data", session_id=str(self.id)
            )
