"""Media and game state recorded in a session: stored images and audio, failed generations,
and free game-state records. Projections keep them; no rule of the aggregate needs them, so
their events change no state here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from domain.inputs import check_json, check_line
from domain.roles import Role
from domain.session.base import ActedEvent, InvalidValue, SessionEvent, SessionState, require_in
from domain.session.play import TurnNotFound

MEDIA_KINDS: Final = frozenset({"image", "audio"})
MEDIA_SOURCES: Final = frozenset({"upload", "generated", "legacy"})
GAME_STATE_KINDS: Final = frozenset(
    {"character", "scene", "turn", "combat", "summary", "campaign_data"}
)


class Media(SessionState):
    """Recording media, failed generations and game state."""

    class MediaStored(ActedEvent):
        """Version 2 added ``legacy``: the imported metadata file of legacy media (else None)."""

        TOPIC = "gaia.MediaStored"
        class_version = 2
        media_id: UUID
        kind: str
        content_type: str
        size: int
        sha256: str
        storage_key: str
        filename: str
        turn_id: UUID | None
        source: str
        legacy: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["legacy"] = None

    class MediaGenerationFailed(SessionEvent):
        """An image or speech provider gave nothing for a narrated turn; the text still stands."""

        TOPIC = "gaia.MediaGenerationFailed"
        turn_id: UUID
        kind: str
        error_kind: str
        message: str

    class GameStateRecorded(ActedEvent):
        TOPIC = "gaia.GameStateRecorded"
        kind: str
        key: str
        data: Any

    def record_media(
        self,
        *,
        actor: str | None,
        media_id: UUID,
        kind: str,
        content_type: str,
        size: int,
        sha256: str,
        storage_key: str,
        filename: str,
        turn_id: UUID | None,
        source: str,
        at: datetime | None,
        legacy: dict[str, Any] | None = None,
    ) -> None:
        """Record stored media; ``actor`` is None for media the narrator or an import made."""
        if actor is not None:
            self.require(actor, Role.PLAYER)
        require_in(kind, MEDIA_KINDS, "kind")
        require_in(source, MEDIA_SOURCES, "source")
        for name, value in (
            ("filename", filename),
            ("content_type", content_type),
            ("sha256", sha256),
            ("storage_key", storage_key),
        ):
            check_line(value, name)
        if legacy is not None:
            self._require_legacy()
        if size < 0:
            raise InvalidValue("size must not be negative", field="size")
        self._require_turn(turn_id)
        self.trigger_event(
            self.MediaStored,
            media_id=media_id,
            kind=kind,
            content_type=content_type,
            size=size,
            sha256=sha256,
            storage_key=storage_key,
            filename=filename,
            turn_id=turn_id,
            source=source,
            legacy=legacy,
            actor=actor,
            occurred_at=at,
        )

    def _require_turn(self, turn_id: UUID | None) -> None:
        if turn_id is not None and str(turn_id) not in self.turns:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))

    def fail_media_generation(
        self, *, turn_id: UUID, kind: str, error_kind: str, message: str, at: datetime | None
    ) -> None:
        """Record that generating the ``kind`` media of a turn failed (the narrator's doing)."""
        require_in(kind, MEDIA_KINDS, "kind")
        if not error_kind:
            raise InvalidValue("error_kind must not be empty", field="error_kind")
        self._require_turn(turn_id)
        self.trigger_event(
            self.MediaGenerationFailed,
            turn_id=turn_id,
            kind=kind,
            error_kind=error_kind,
            message=message,
            occurred_at=at,
        )

    def record_game_state(
        self, *, actor: str | None, kind: str, key: str, data: Any, at: datetime | None
    ) -> None:
        if actor is not None:
            self.require(actor, Role.PLAYER)
        require_in(kind, GAME_STATE_KINDS, "kind")
        if not key:
            raise InvalidValue("key must not be empty", field="key")
        check_line(key, "key")
        check_json(data, "data")
        self.trigger_event(
            self.GameStateRecorded, kind=kind, key=key, data=data, actor=actor, occurred_at=at
        )
