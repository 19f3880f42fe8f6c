"""The Sessions application: the use cases over CampaignSession streams, free of infrastructure.

``writes`` holds the write loop, ``ports`` what it needs of the store (built by
``domain.adapters.event_store.open_sessions``), and one module per group of use cases.
"""

from domain.application.lifecycle import DEFAULT_TITLE, InvalidForkPoint
from domain.application.play import TooManyPendingTurns
from domain.application.ports import OneProcessStore, StoreAccess, StoreFactory
from domain.application.results import (
    CharacterMade,
    InviteCreated,
    Joined,
    NarrationStored,
    TurnAccepted,
    Written,
)
from domain.application.sessions import Sessions
from domain.application.writes import (
    DEFAULT_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    Retries,
    SavedListener,
    SessionNotFound,
    store_errors,
    utc_now,
)

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_SNAPSHOT_INTERVAL",
    "DEFAULT_TITLE",
    "CharacterMade",
    "InvalidForkPoint",
    "InviteCreated",
    "Joined",
    "NarrationStored",
    "OneProcessStore",
    "Retries",
    "SavedListener",
    "SessionNotFound",
    "Sessions",
    "StoreAccess",
    "StoreFactory",
    "TooManyPendingTurns",
    "TurnAccepted",
    "Written",
    "store_errors",
    "utc_now",
]
