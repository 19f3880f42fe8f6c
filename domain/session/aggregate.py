"""The CampaignSession aggregate: one event stream per campaign session, and the rules it keeps.

It is assembled from one mixin per concern, each module holding its commands and its events:
play and narration (play.py) over the campaign state (world.py), rewinds, membership, media and
the legacy import (legacy.py). The library binds every mixin's events to this class, so they
read as ``CampaignSession.TurnSubmitted`` and are stored under their fixed ``TOPIC``
(``gaia.<Event>``, which stored streams name them by). Hence each mixin stays a direct base
below, and commands trigger ``self.<Event>``: the event class bound here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.inputs import check_json, check_line
from domain.roles import Role
from domain.session import turnlog
from domain.session.base import ActedEvent, InvalidValue, SessionState
from domain.session.legacy import LegacyImport
from domain.session.media import Media
from domain.session.membership import Membership, fold_member
from domain.session.play import Play
from domain.session.rewind import Rewinds
from domain.session.world import World


def _title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InvalidValue("title must not be blank", field="title")
    check_line(title, "title")
    return title


class CampaignSession(LegacyImport, Play, World, Rewinds, Membership, Media, Aggregate):
    """A campaign session: its members, invites, turns and everything that happened in it."""

    TOPIC = "gaia.CampaignSession"
    # Version 2 keeps each turn's state log as one string instead of a list of pairs;
    # version 3 also keeps the turns waiting for narration apart, so finding them is cheap;
    # version 4 keeps the campaign state (characters, scene, combat) as a change log.
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["turns"] = {
            turn_id: ";".join(turnlog.entry(version, status) for version, status in log)
            for turn_id, log in state.get("turns", {}).items()
        }

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["waiting"] = turnlog.waiting(state.get("turns", {}))

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state["campaign"] = {}  # no campaign event existed before version 4

    class Created(Aggregate.Created):
        # Never recorded: the library derives one per aggregate; SessionStarted is our creation.
        TOPIC = "gaia.CampaignSession.Created"

    class SessionStarted(ActedEvent, Aggregate.Created):
        TOPIC = "gaia.SessionStarted"
        title: str
        owner: str | None
        owner_name: str | None
        settings: dict[str, Any]
        origin: dict[str, Any]

    class SessionRenamed(ActedEvent):
        TOPIC = "gaia.SessionRenamed"
        title: str

        def apply(self, session: SessionState) -> None:
            session.title = self.title

    @classmethod
    def start(
        cls,
        *,
        session_id: UUID,
        title: str,
        owner: str | None,
        owner_name: str | None,
        settings: dict[str, Any],
        origin: dict[str, Any],
        actor: str | None,
        at: datetime | None,
    ) -> CampaignSession:
        title = _title(title)
        check_line(owner, "owner")
        check_line(owner_name, "owner_name")
        check_json(settings, "settings")
        return cls._create(
            cls.SessionStarted,
            id=session_id,
            title=title,
            owner=owner,
            owner_name=owner_name,
            settings=settings,
            origin=origin,
            actor=actor,
            occurred_at=at,
        )

    @event(SessionStarted)
    def __init__(
        self,
        *,
        title: str,
        owner: str | None,
        owner_name: str | None,
        settings: dict[str, Any],
        origin: dict[str, Any],
    ) -> None:
        self.title = title
        self.settings = settings
        self.origin = origin
        self.members, self.owner = {}, None
        if owner is not None:
            self.members, self.owner = fold_member({}, None, owner, Role.OWNER, owner_name or owner)
        self.blocked = []
        self.invites = {}
        self.turns = {}
        self.waiting = {}
        self.hidden = []
        self.idempotency = {}
        self.campaign = {}

    def rename(self, *, actor: str, title: str, at: datetime | None) -> None:
        self.require(actor, Role.OWNER)
        title = _title(title)
        if title != self.title:
            self.trigger_event(self.SessionRenamed, title=title, actor=actor, occurred_at=at)
