"""Play: players submit turns, the narrator answers each (or fails to), and a player may ask
for a turn to be narrated again. A turn's status is kept in its log (turnlog.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from domain.errors import Conflict, NotFound, RuleViolation
from domain.inputs import check_line, check_text
from domain.roles import Role
from domain.session import turnlog
from domain.session.base import ActedEvent, SessionEvent, SessionState, require_in
from domain.session.turnlog import TurnStatus
from domain.session.world import World

TURN_KINDS: Final = frozenset({"action", "context", "ooc"})
IDEMPOTENCY_WINDOW: Final = 256  # keys remembered per session; older repeats write a new turn


class TurnNotFound(NotFound):
    code = "turn_not_found"


class NarrationInProgress(Conflict):
    code = "narration_in_progress"


class InvalidTurn(RuleViolation):
    code = "invalid_turn"


class IdempotencyKeyReused(RuleViolation):
    code = "idempotency_key_reused"


def log_status(session: SessionState, turn_id: UUID, version: int, status: TurnStatus) -> None:
    turnlog.log_status(session.turns, session.waiting, str(turn_id), version, status)


class Play(World):
    """Turns and their narration."""

    class TurnSubmitted(ActedEvent):
        """Version 1 kept the character as flat ``character_id`` and ``character_name``;
        version 3 added ``legacy``: what an imported message was on disk (None otherwise)."""

        TOPIC = "gaia.TurnSubmitted"
        class_version = 3
        turn_id: UUID
        text: str
        kind: str
        character: dict[str, str] | None
        idempotency_key: str | None
        held: bool
        legacy: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            character_id = state.pop("character_id", None)
            character_name = state.pop("character_name", None)
            if character_id is None and character_name is None:
                state["character"] = None
            else:
                state["character"] = {"id": character_id or "", "name": character_name or ""}
            state.setdefault("held", False)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["legacy"] = None

        def apply(self, session: SessionState) -> None:
            version, tid = self.originator_version, str(self.turn_id)
            status = TurnStatus.HELD if self.held else TurnStatus.PENDING
            turnlog.log_status(session.turns, session.waiting, tid, version, status)
            if self.idempotency_key is not None and self.actor is not None:
                session.idempotency[idempotency_slot(self.actor, self.idempotency_key)] = {
                    "turn_id": tid,
                    "version": version,
                    "fingerprint": fingerprint(self.text, self.kind, self.character),
                }
                while len(session.idempotency) > IDEMPOTENCY_WINDOW:
                    del session.idempotency[next(iter(session.idempotency))]

    class NarrationCompleted(SessionEvent):
        """Version 2 added ``legacy``: what an imported reply was on disk (None otherwise)."""

        TOPIC = "gaia.NarrationCompleted"
        class_version = 2
        turn_id: UUID
        narrative: str
        answer: str
        player_options: list[str]
        structured: dict[str, Any]
        provider: str
        model: str
        latency_ms: int
        degraded: bool
        legacy: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["legacy"] = None

        def apply(self, session: SessionState) -> None:
            log_status(session, self.turn_id, self.originator_version, TurnStatus.NARRATED)

    class NarrationFailed(SessionEvent):
        TOPIC = "gaia.NarrationFailed"
        turn_id: UUID
        error_kind: str
        message: str
        attempts: int

        def apply(self, session: SessionState) -> None:
            log_status(session, self.turn_id, self.originator_version, TurnStatus.FAILED)

    class NarrationRequested(ActedEvent):
        TOPIC = "gaia.NarrationRequested"
        turn_id: UUID

        def apply(self, session: SessionState) -> None:
            log_status(session, self.turn_id, self.originator_version, TurnStatus.PENDING)

    def submit_turn(
        self,
        *,
        actor: str,
        turn_id: UUID,
        text: str,
        kind: str,
        character: dict[str, str] | None,
        idempotency_key: str | None,
        at: datetime | None,
    ) -> tuple[str, int, bool]:
        """Append a turn; returns ``(turn_id, version, repeated)``.

        A repeated idempotency key returns the first turn and appends nothing.
        """
        self.require(actor, Role.PLAYER)
        check_line(idempotency_key, "idempotency_key")
        check_text(text, "text")
        check_character(character)
        character = self._speaking_as(actor, character)
        if idempotency_key is not None:
            remembered = self.idempotency.get(idempotency_slot(actor, idempotency_key))
            if remembered is not None:
                if remembered["fingerprint"] != fingerprint(text, kind, character):
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was used for a different turn",
                        idempotency_key=idempotency_key,
                    )
                return remembered["turn_id"], remembered["version"], True
        if not text.strip():
            raise InvalidTurn("text must not be blank", field="text")
        self._check_new_turn(turn_id, kind)
        self.trigger_event(
            self.TurnSubmitted,
            turn_id=turn_id,
            text=text,
            kind=kind,
            character=character,
            idempotency_key=idempotency_key,
            held=False,
            legacy=None,
            actor=actor,
            occurred_at=at,
        )
        return str(turn_id), self.version, False

    def _check_new_turn(self, turn_id: UUID, kind: str) -> None:
        require_in(kind, TURN_KINDS, "kind")
        if str(turn_id) in self.turns:
            raise InvalidTurn("turn id already used", turn_id=str(turn_id))

    def _require_state(self, turn_id: UUID) -> TurnStatus:
        state = self.turn_state(str(turn_id))
        if state is None:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        return state

    def _require_pending(self, turn_id: UUID) -> None:
        state = self._require_state(turn_id)
        if state != TurnStatus.PENDING:
            raise NarrationInProgress(
                "the turn is not waiting for narration", turn_id=str(turn_id), state=state
            )

    def complete_narration(
        self,
        *,
        turn_id: UUID,
        narrative: str,
        answer: str,
        player_options: list[str],
        structured: dict[str, Any],
        provider: str,
        model: str,
        latency_ms: int,
        degraded: bool,
        at: datetime | None,
    ) -> None:
        self._require_pending(turn_id)
        self.trigger_event(
            self.NarrationCompleted,
            turn_id=turn_id,
            narrative=narrative,
            answer=answer,
            player_options=player_options,
            structured=structured,
            provider=provider,
            model=model,
            latency_ms=latency_ms,
            degraded=degraded,
            legacy=None,
            occurred_at=at,
        )
        self._fold_world(structured, turn_id, at)

    def fail_narration(
        self, *, turn_id: UUID, error_kind: str, message: str, attempts: int, at: datetime | None
    ) -> None:
        self._require_pending(turn_id)
        self.trigger_event(
            self.NarrationFailed,
            turn_id=turn_id,
            error_kind=error_kind,
            message=message,
            attempts=attempts,
            occurred_at=at,
        )

    def request_narration(self, *, actor: str, turn_id: UUID, at: datetime | None) -> None:
        """Narrate a narrated, failed or held turn again (a retry)."""
        self.require(actor, Role.PLAYER)
        if self._require_state(turn_id) == TurnStatus.PENDING:
            raise NarrationInProgress("the turn is already waiting for narration")
        self.trigger_event(self.NarrationRequested, turn_id=turn_id, actor=actor, occurred_at=at)


def check_character(character: dict[str, str] | None) -> None:
    if character is not None:
        check_line(character.get("id"), "character_id")
        check_line(character.get("name"), "character_name")


def idempotency_slot(actor: str, key: str) -> str:
    return f"{actor}\n{key}"


def fingerprint(text: str, kind: str, character: dict[str, str] | None) -> str:
    payload = json.dumps([text, kind, character], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
