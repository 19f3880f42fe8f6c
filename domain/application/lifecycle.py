"""Use cases that start, name, fork and hand over a session."""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from datetime import datetime
from typing import Any, Final
from uuid import UUID, uuid4

from domain import roles
from domain.application.results import Written
from domain.application.writes import SessionWrites
from domain.errors import RuleViolation
from domain.ids import legacy_session_id
from domain.session import CampaignSession

DEFAULT_TITLE: Final = "Untitled campaign"


class InvalidForkPoint(RuleViolation):
    code = "invalid_fork_point"


class Lifecycle(SessionWrites):
    def start_session(
        self,
        *,
        owner: str,
        owner_name: str,
        title: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Written:
        session = CampaignSession.start(
            session_id=uuid4(),
            title=title or DEFAULT_TITLE,
            owner=owner,
            owner_name=owner_name,
            settings=dict(settings or {}),
            origin={"kind": "new"},
            actor=owner,
            at=self.clock(),
        )
        return self._create(session)

    def start_legacy_session(
        self,
        *,
        legacy_id: str,
        source: str,
        title: str,
        owner: str | None,
        owner_name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> CampaignSession:
        """A new, unsaved session for a legacy campaign; the importer adds to it, then saves.

        ``provenance`` (what was imported from where: fingerprint, files) goes into the origin
        under ``import``.
        """
        origin: dict[str, Any] = {"kind": "legacy", "legacy_id": legacy_id, "source": source}
        if provenance is not None:
            origin["import"] = dict(provenance)
        return CampaignSession.start(
            session_id=legacy_session_id(legacy_id),
            title=title,
            owner=owner,
            owner_name=owner_name,
            settings=dict(settings or {}),
            origin=origin,
            actor=None,
            at=at,
        )

    def save_new(self, session: CampaignSession) -> Written:
        """Save a session built outside the write loop (an import) in one transaction.

        It is not kept loaded: its values never went through a command's checks, so the next
        command reads it back from the store, which reads what older code stored defensively.
        """
        return self._create(session, keep=False)

    def rename(self, *, session_id: UUID, actor: str, title: str) -> Written:
        _, written = self._update(
            session_id, lambda s: s.rename(actor=actor, title=title, at=self.clock())
        )
        return written

    def fork(
        self,
        *,
        session_id: UUID,
        actor: str,
        actor_name: str,
        at_version: int | None = None,
        title: str | None = None,
    ) -> Written:
        """A new session owned by ``actor`` continuing the parent's story from ``at_version``.

        The parent's write locks are held from the check to the save: a rewind of the parent
        lands wholly before the fork (which then sees it) or wholly after it, so the fork point
        is still visible when the fork is recorded, for the views that copy the parent's rows.
        """
        with self._holding(session_id) as held:
            held.require(actor, roles.SPECTATOR)
            parent = deepcopy(held)  # the fork's events must share nothing with the parent
            at = parent.latest_quiet_version() if at_version is None else at_version
            if not parent.is_quiet(at):
                raise InvalidForkPoint(
                    "at_version must be a visible version where no turn waits for narration",
                    at_version=at,
                )
            fork = self._forked(parent, at, actor, actor_name, title)
            then = parent if at == parent.version else self.get(session_id, version=at)
            fork.inherit_campaign(then.campaign_state(), self.clock())
            return self._create(fork)

    def _forked(
        self, parent: CampaignSession, at: int, actor: str, actor_name: str, title: str | None
    ) -> CampaignSession:
        return CampaignSession.start(
            session_id=uuid4(),
            title=title or f"{parent.title} (fork)",
            owner=actor,
            owner_name=actor_name,
            settings=dict(parent.settings),
            origin={"kind": "fork", "parent_id": str(parent.id), "at_version": at},
            actor=actor,
            at=self.clock(),
        )

    def assign_owner(self, *, session_id: UUID, user_id: str, display_name: str) -> Written:
        """Give an ownerless (imported) session its owner."""
        _, written = self._update(
            session_id,
            lambda s: s.add_member(
                user_id=user_id, display_name=display_name, role=roles.OWNER, at=self.clock()
            ),
        )
        return written
