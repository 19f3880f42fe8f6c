"""The CampaignSession aggregate (aggregate.py) and everything callers use with it: its events,
errors, turn statuses and the rules the views fold the same way."""

from domain.session.aggregate import CampaignSession
from domain.session.base import (
    ActedEvent,
    InvalidValue,
    Invite,
    Member,
    NotALegacySession,
    NotAMember,
    RememberedTurn,
    RoleTooLow,
    SessionEvent,
)
from domain.session.legacy import MESSAGE_ROLES
from domain.session.media import GAME_STATE_KINDS, MEDIA_KINDS, MEDIA_SOURCES
from domain.session.membership import (
    InviteInvalid,
    InviteNotFound,
    MemberNotFound,
    OwnerIsPermanent,
    UserBlocked,
    fold_member,
)
from domain.session.play import (
    IDEMPOTENCY_WINDOW,
    TURN_KINDS,
    IdempotencyKeyReused,
    InvalidTurn,
    NarrationInProgress,
    TurnNotFound,
)
from domain.session.rewind import InvalidRewind, hidden_by_rewind, is_hidden
from domain.session.turnlog import TurnStatus

__all__ = [
    "GAME_STATE_KINDS",
    "IDEMPOTENCY_WINDOW",
    "MEDIA_KINDS",
    "MEDIA_SOURCES",
    "MESSAGE_ROLES",
    "TURN_KINDS",
    "ActedEvent",
    "CampaignSession",
    "IdempotencyKeyReused",
    "InvalidRewind",
    "InvalidTurn",
    "InvalidValue",
    "Invite",
    "InviteInvalid",
    "InviteNotFound",
    "Member",
    "MemberNotFound",
    "NarrationInProgress",
    "NotALegacySession",
    "NotAMember",
    "OwnerIsPermanent",
    "RememberedTurn",
    "RoleTooLow",
    "SessionEvent",
    "TurnNotFound",
    "TurnStatus",
    "UserBlocked",
    "fold_member",
    "hidden_by_rewind",
    "is_hidden",
]
