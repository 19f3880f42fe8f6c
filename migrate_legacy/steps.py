"""The commands a mapped campaign applies to its new session, one small record per event.

Mapping produces these as plain data (easy to check in unit tests); applying one is a single
aggregate command, so the rules of ``CampaignSession`` still guard every imported event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain.session import CampaignSession


class Step(Protocol):
    @property
    def source(self) -> str | None:
        """The campaign-relative path of the file the step came from."""

    def apply(self, session: CampaignSession) -> None: ...


@dataclass(frozen=True)
class AddMember:
    user_id: str
    display_name: str
    role: str
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.add_member(
            user_id=self.user_id, display_name=self.display_name, role=self.role, at=None
        )


@dataclass(frozen=True)
class ImportTurn:
    turn_id: UUID
    text: str
    kind: str
    character: dict[str, str] | None
    legacy: dict[str, Any]
    at: datetime | None
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.import_turn(
            turn_id=self.turn_id,
            text=self.text,
            kind=self.kind,
            character=self.character,
            legacy=self.legacy,
            at=self.at,
        )


@dataclass(frozen=True)
class ImportReply:
    turn_id: UUID
    narrative: str
    answer: str
    player_options: list[str]
    structured: dict[str, Any]
    legacy: dict[str, Any]
    at: datetime | None
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.import_reply(
            turn_id=self.turn_id,
            narrative=self.narrative,
            answer=self.answer,
            player_options=self.player_options,
            structured=self.structured,
            legacy=self.legacy,
            at=self.at,
        )


@dataclass(frozen=True)
class ImportMessage:
    role: str  # narrator | system
    text: str
    structured: dict[str, Any]
    legacy: dict[str, Any]
    at: datetime | None
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.import_message(
            role=self.role,
            text=self.text,
            structured=self.structured,
            legacy=self.legacy,
            at=self.at,
        )


@dataclass(frozen=True)
class RecordState:
    kind: str
    key: str
    data: Any
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.record_game_state(actor=None, kind=self.kind, key=self.key, data=self.data, at=None)


@dataclass(frozen=True)
class RecordMedia:
    media_id: UUID
    content_type: str
    size: int
    sha256: str
    storage_key: str
    filename: str
    legacy: dict[str, Any]
    at: datetime | None
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.record_media(
            actor=None,
            media_id=self.media_id,
            kind="image",
            content_type=self.content_type,
            size=self.size,
            sha256=self.sha256,
            storage_key=self.storage_key,
            filename=self.filename,
            turn_id=None,
            source="legacy",
            at=self.at,
            legacy=self.legacy,
        )


@dataclass(frozen=True)
class Preserve:
    path: str
    sha256: str
    content: Any
    source: str | None

    def apply(self, session: CampaignSession) -> None:
        session.preserve_artifact(path=self.path, sha256=self.sha256, content=self.content, at=None)
