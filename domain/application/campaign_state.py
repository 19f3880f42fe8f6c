"""Use cases of campaign state: characters made, changed and retired; media and game state
that narration or an import produced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from domain.application.results import CharacterMade, Written
from domain.application.writes import SessionWrites


class CampaignState(SessionWrites):
    def create_character(
        self,
        *,
        session_id: UUID,
        actor: str,
        sheet: Mapping[str, Any],
        kind: str = "pc",
        character_id: str | None = None,
    ) -> CharacterMade:
        new_id = character_id or str(uuid4())
        _, written = self._update(
            session_id,
            lambda s: s.create_character(
                actor=actor, character_id=new_id, kind=kind, sheet=dict(sheet), at=self.clock()
            ),
        )
        return CharacterMade(session_id, written.version, written.position, new_id)

    def change_character(
        self, *, session_id: UUID, actor: str, character_id: str, changes: Mapping[str, Any]
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.change_character(
                actor=actor, character_id=character_id, changes=dict(changes), at=self.clock()
            ),
        )
        return written

    def retire_character(self, *, session_id: UUID, actor: str, character_id: str) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.retire_character(actor=actor, character_id=character_id, at=self.clock()),
        )
        return written

    def record_media(
        self,
        *,
        session_id: UUID,
        actor: str | None,
        kind: str,
        content_type: str,
        size: int,
        sha256: str,
        storage_key: str,
        filename: str,
        source: str,
        turn_id: UUID | None = None,
        media_id: UUID | None = None,
    ) -> tuple[UUID, Written]:
        new_id = media_id or uuid4()
        _, written = self._update(
            session_id,
            lambda s: s.record_media(
                actor=actor,
                media_id=new_id,
                kind=kind,
                content_type=content_type,
                size=size,
                sha256=sha256,
                storage_key=storage_key,
                filename=filename,
                turn_id=turn_id,
                source=source,
                at=self.clock(),
            ),
        )
        return new_id, written

    def fail_media_generation(
        self, *, session_id: UUID, turn_id: UUID, kind: str, error_kind: str, message: str
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.fail_media_generation(
                turn_id=turn_id,
                kind=kind,
                error_kind=error_kind,
                message=message,
                at=self.clock(),
            ),
        )
        return written

    def record_game_state(
        self, *, session_id: UUID, actor: str | None, kind: str, key: str, data: Any
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.record_game_state(
                actor=actor, kind=kind, key=key, data=data, at=self.clock()
            ),
        )
        return written
