"""Use cases of play: turns, their narration (completed, failed, asked for again) and rewinds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID, uuid4

from domain.application.results import NarrationStored, TurnAccepted, Written
from domain.application.writes import SessionWrites
from domain.errors import Throttled
from domain.session import CampaignSession


class TooManyPendingTurns(Throttled):
    """The session already has as many turns waiting for narration as it may."""


def _require_room(session: CampaignSession, max_pending: int | None) -> None:
    """Checked after the command ran, on the aggregate it changed: the cap holds across
    instances, since a concurrent writer makes the save fail and the check run again."""
    if max_pending is not None and len(session.waiting) > max_pending:
        raise TooManyPendingTurns(
            "too many turns are waiting for narration in this session; try again later",
            limit="pending_turns_per_session",
            max=max_pending,
        )


class Play(SessionWrites):
    def submit_turn(
        self,
        *,
        session_id: UUID,
        actor: str,
        text: str,
        kind: str = "action",
        character: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        max_pending: int | None = None,
    ) -> TurnAccepted:
        """Append a turn; with ``max_pending``, refuse it while that many turns of the session
        wait for narration (a repeated idempotency key still answers its first turn)."""
        turn_id = uuid4()

        def submit(session: CampaignSession) -> tuple[str, int, bool]:
            accepted = session.submit_turn(
                actor=actor,
                turn_id=turn_id,
                text=text,
                kind=kind,
                character=dict(character) if character is not None else None,
                idempotency_key=idempotency_key,
                at=self.clock(),
            )
            if not accepted[2]:
                _require_room(session, max_pending)
            return accepted

        (accepted_id, _, repeated), written = self._update(
            session_id, submit, unchanged_at=lambda result: result[1]
        )
        return TurnAccepted(
            session_id, written.version, written.position, UUID(accepted_id), repeated
        )

    def complete_narration(
        self,
        *,
        session_id: UUID,
        turn_id: UUID,
        narrative: str,
        answer: str = "",
        player_options: list[str] | None = None,
        structured: Mapping[str, Any] | None = None,
        provider: str,
        model: str,
        latency_ms: int,
        degraded: bool = False,
    ) -> NarrationStored:
        return self._store_narration(
            session_id,
            lambda s: s.complete_narration(
                turn_id=turn_id,
                narrative=narrative,
                answer=answer,
                player_options=list(player_options or []),
                structured=dict(structured or {}),
                provider=provider,
                model=model,
                latency_ms=latency_ms,
                degraded=degraded,
                at=self.clock(),
            ),
        )

    def fail_narration(
        self, *, session_id: UUID, turn_id: UUID, error_kind: str, message: str, attempts: int
    ) -> NarrationStored:
        return self._store_narration(
            session_id,
            lambda s: s.fail_narration(
                turn_id=turn_id,
                error_kind=error_kind,
                message=message,
                attempts=attempts,
                at=self.clock(),
            ),
        )

    def _store_narration(
        self, session_id: UUID, change: Callable[[CampaignSession], object]
    ) -> NarrationStored:
        """Write a narration's outcome, and read the turns still waiting under the same lock."""

        def store(session: CampaignSession) -> tuple[str, ...]:
            change(session)
            return tuple(session.pending_turns())

        waiting, written = self._update(session_id, store)
        return NarrationStored(written.session_id, written.version, written.position, waiting)

    def request_narration(
        self, *, session_id: UUID, actor: str, turn_id: UUID, max_pending: int | None = None
    ) -> Written:
        def request(session: CampaignSession) -> None:
            session.request_narration(actor=actor, turn_id=turn_id, at=self.clock())
            _require_room(session, max_pending)

        _, written = self._update(session_id, request)
        return written

    def rewind(self, *, session_id: UUID, actor: str, to_version: int) -> Written:
        _, written = self._update(
            session_id, lambda s: s.rewind(actor=actor, to_version=to_version, at=self.clock())
        )
        return written
