"""Importing a legacy campaign: its transcript replayed as it was, and its files preserved.

No member is known to have written an imported transcript, so its events carry no actor, and
blank or odd content is kept verbatim rather than refused. Only a session started as an import
(origin kind ``legacy``) takes legacy data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from domain.session.base import ActedEvent, InvalidValue, SessionEvent, require_in
from domain.session.play import TURN_KINDS, InvalidTurn, Play, TurnNotFound, check_character
from domain.session.turnlog import TurnStatus

MESSAGE_ROLES: Final = frozenset({"narrator", "system"})  # messages that answer no turn


class LegacyImport(Play):
    """The commands the migration job replays a legacy campaign with: play as it was."""

    class LegacyArtifactPreserved(SessionEvent):
        """A legacy file kept as it was; it lives in the stream only."""

        TOPIC = "gaia.LegacyArtifactPreserved"
        path: str
        sha256: str
        content: Any

    class MessagePosted(ActedEvent):
        """A narrator or system message that answers no turn (a campaign intro, a notice)."""

        TOPIC = "gaia.MessagePosted"
        role: str
        text: str
        structured: dict[str, Any]
        legacy: dict[str, Any] | None

    def preserve_artifact(
        self, *, path: str, sha256: str, content: Any, at: datetime | None
    ) -> None:
        if not path:
            raise InvalidValue("path must not be empty", field="path")
        self.trigger_event(
            self.LegacyArtifactPreserved, path=path, sha256=sha256, content=content, occurred_at=at
        )

    def import_turn(
        self,
        *,
        turn_id: UUID,
        text: str,
        kind: str,
        character: dict[str, str] | None,
        legacy: dict[str, Any],
        at: datetime | None,
    ) -> None:
        """Import a legacy player message as a held turn: only an explicit retry narrates it."""
        self._require_legacy()
        require_in(kind, TURN_KINDS, "kind")
        check_character(character)
        if str(turn_id) in self.turns:
            raise InvalidTurn("turn id already used", turn_id=str(turn_id))
        self.trigger_event(
            self.TurnSubmitted,
            turn_id=turn_id,
            text=text,
            kind=kind,
            character=character,
            idempotency_key=None,
            held=True,
            legacy=legacy,
            actor=None,
            occurred_at=at,
        )

    def import_reply(
        self,
        *,
        turn_id: UUID,
        narrative: str,
        answer: str,
        player_options: list[str],
        structured: dict[str, Any],
        legacy: dict[str, Any],
        at: datetime | None,
    ) -> None:
        """Import a legacy narrator message as the reply to an imported turn still unanswered."""
        self._require_legacy()
        state = self.turn_state(str(turn_id))
        if state is None:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        if state != TurnStatus.HELD:
            raise InvalidTurn("the turn is not an unanswered imported turn", turn_id=str(turn_id))
        self.trigger_event(
            self.NarrationCompleted,
            turn_id=turn_id,
            narrative=narrative,
            answer=answer,
            player_options=player_options,
            structured=structured,
            provider="legacy",
            model="",
            latency_ms=0,
            degraded=False,
            legacy=legacy,
            occurred_at=at,
        )

    def import_message(
        self,
        *,
        role: str,
        text: str,
        structured: dict[str, Any],
        legacy: dict[str, Any],
        at: datetime | None,
    ) -> None:
        """Import a legacy message that answers no turn: a standalone narration or a system note."""
        self._require_legacy()
        require_in(role, MESSAGE_ROLES, "role")
        self.trigger_event(
            self.MessagePosted,
            role=role,
            text=text,
            structured=structured,
            legacy=legacy,
            actor=None,
            occurred_at=at,
        )
