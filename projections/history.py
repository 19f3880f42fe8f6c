"""The per-session view: one session's history, members, invites, media and campaign state
(projections/campaign.py) folded from its stream.

``SessionView.apply`` hands each stored event, in version order, to the handler its ``HANDLERS``
table names (projections/dispatch.py); ``visible_messages`` answers the history a player sees
(rewinds applied, each turn showing only its latest reply). An event the view cannot apply is
logged and gone past: no stored event makes a read fail.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, TypedDict
from uuid import UUID

from domain import campaign
from domain.roles import Role
from domain.session import CampaignSession as S
from domain.session import Member, fold_member, hidden_by_rewind, is_hidden
from projections.campaign import CampaignView
from projections.dispatch import IGNORED, EventTable

log = logging.getLogger(__name__)

REPLY_KINDS = frozenset({"narration", "narration_failed"})

# A fold handler: the view, the event, its version and when it was recorded (ISO 8601).
Fold = Callable[["SessionView", Any, int, str], None]


def message_id(session_id: UUID, version: int) -> str:
    """``str(uuid5(session_id, f"message/{version}"))``, without building UUID objects: the
    fold names every message, so this is a large share of its time."""
    digest = bytearray(hashlib.sha1(session_id.bytes + b"message/%d" % version).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _legacy(legacy: dict[str, Any], text: str, structured: dict[str, Any]) -> dict[str, Any]:
    """What an imported message was on disk, its original content put back verbatim.

    The importer stores content once: as the text (a string), as the structured content (an
    object), or, for a JSON-encoded string or any other value, in ``legacy["content"]``.
    """
    view = dict(legacy)
    form = legacy.get("content_form")
    if form == "text":
        view["content"] = text
    elif form == "object":
        view["content"] = structured
    return view


class InviteRow(TypedDict):
    """An invite as its owner may list it: never its token, nor the token's hash."""

    invite_id: str
    role: str
    expires_at: str | None
    max_uses: int | None
    uses: int
    revoked: bool
    created_at: str


@dataclass
class SessionView:
    """What the read side knows about one session, as of ``version``."""

    session_id: UUID
    version: int = 0
    title: str = ""
    owner: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    members: dict[str, Member] = field(default_factory=dict)  # by user id
    blocked: set[str] = field(default_factory=set)
    invites: dict[str, InviteRow] = field(default_factory=dict)  # by invite id
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # every message, hidden too
    hidden: list[tuple[int, int]] = field(default_factory=list)
    inherited: list[dict[str, Any]] = field(default_factory=list)  # a fork's parent history
    campaign: CampaignView = field(default_factory=CampaignView)
    _turn_message: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _visible_cache: tuple[int, list[dict[str, Any]]] | None = field(default=None, repr=False)

    # -- folding ----------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        version = event.originator_version
        recorded_at = event.timestamp.isoformat()
        try:
            handler = self.HANDLERS.handler(event)
            if handler is not None:
                handler(self, event, version, recorded_at)
        except Exception:
            log.exception(
                "session view skipped the event at version %d of session %s",
                version,
                self.session_id,
                extra={"session_id": str(self.session_id), "version": version},
            )
        self.version = version
        self._visible_cache = None

    def _name(self, user_id: str | None) -> dict[str, str] | None:
        if user_id is None:
            return None
        member = self.members.get(user_id)
        return {"user_id": user_id, "display_name": member["display_name"] if member else user_id}

    def _message(self, event: Any, version: int, recorded_at: str, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id(self.session_id, version),
            "version": version,
            "turn_id": None,
            "role": "system",
            "kind": "system",
            "author": None,
            "character": None,
            "text": "",
            "structured": {},
            "media": [],
            "occurred_at": _iso(getattr(event, "occurred_at", None)),
            "recorded_at": recorded_at,
        }
        message.update(fields)
        self.messages.append(message)
        return message

    def _on_SessionStarted(self, e: S.SessionStarted, version: int, at: str) -> None:
        self.title, self.owner, self.origin = e.title, e.owner, dict(e.origin)
        self.settings = dict(e.settings)
        self.created_at = at
        if e.owner is not None:
            name = e.owner_name or e.owner
            self.members, _ = fold_member(self.members, None, e.owner, Role.OWNER, name)

    def _on_SessionRenamed(self, e: S.SessionRenamed, version: int, at: str) -> None:
        self.title = e.title

    def _on_TurnSubmitted(self, e: S.TurnSubmitted, version: int, at: str) -> None:
        turn_id = str(e.turn_id)
        message = self._message(
            e,
            version,
            at,
            turn_id=turn_id,
            role="player",
            kind=e.kind,
            author=self._name(e.actor),
            character=dict(e.character) if e.character else None,
            text=e.text,
            pending=not e.held,
        )
        if e.legacy is not None:
            message["legacy"] = _legacy(e.legacy, e.text, {})
        if e.held:
            message["held"] = True
        self._turn_message[turn_id] = message

    def _settle(self, turn_id: str) -> None:
        message = self._turn_message.get(turn_id)
        if message is not None:
            message["pending"] = False
            message.pop("held", None)

    def _on_NarrationCompleted(self, e: S.NarrationCompleted, version: int, at: str) -> None:
        turn_id = str(e.turn_id)
        self._settle(turn_id)
        message = self._message(
            e,
            version,
            at,
            turn_id=turn_id,
            role="narrator",
            kind="narration",
            text=e.narrative,
            structured=dict(e.structured),
            answer=e.answer,
            player_options=list(e.player_options),
            provider=e.provider,
            model=e.model,
            degraded=e.degraded,
        )
        if e.legacy is not None:
            message["legacy"] = _legacy(e.legacy, e.narrative, e.structured)

    def _on_MessagePosted(self, e: S.MessagePosted, version: int, at: str) -> None:
        message = self._message(
            e,
            version,
            at,
            role=e.role,
            kind="narration" if e.role == "narrator" else "system",
            text=e.text,
            structured=dict(e.structured),
        )
        if e.legacy is not None:
            message["legacy"] = _legacy(e.legacy, e.text, e.structured)

    def _on_NarrationFailed(self, e: S.NarrationFailed, version: int, at: str) -> None:
        turn_id = str(e.turn_id)
        self._settle(turn_id)
        self._message(
            e,
            version,
            at,
            turn_id=turn_id,
            kind="narration_failed",
            text=f"The narrator could not answer ({e.error_kind}): {e.message}",
            structured={"error_kind": e.error_kind, "attempts": e.attempts},
        )

    def _on_NarrationRequested(self, e: S.NarrationRequested, version: int, at: str) -> None:
        message = self._turn_message.get(str(e.turn_id))
        if message is not None:
            message["pending"] = True
            message.pop("held", None)

    def _on_TimelineRewound(self, e: S.TimelineRewound, version: int, at: str) -> None:
        span = hidden_by_rewind(e.to_version, version)
        if span is not None:
            self.hidden.append(span)
        self._refresh_pending_flags(e.to_version)
        self.campaign.rewound(e.to_version)

    # Campaign state (projections/campaign.py).

    def _on_CharacterCreated(self, e: S.CharacterCreated, version: int, at: str) -> None:
        self.campaign.character_created(version, e.character_id, e.owner, e.kind, e.sheet)

    def _on_CharacterChanged(self, e: S.CharacterChanged, version: int, at: str) -> None:
        self.campaign.character_changed(version, e.character_id, e.changes)

    def _on_CharacterRetired(self, e: S.CharacterRetired, version: int, at: str) -> None:
        self.campaign.character_retired(version, e.character_id)

    def _on_SceneEntered(self, e: S.SceneEntered, version: int, at: str) -> None:
        self.campaign.set(version, campaign.SCENE, e.scene)

    def _on_CombatStarted(self, e: S.CombatStarted, version: int, at: str) -> None:
        self.campaign.set(version, campaign.COMBAT, e.combat)

    def _on_CombatUpdated(self, e: S.CombatUpdated, version: int, at: str) -> None:
        self.campaign.set(version, campaign.COMBAT, e.combat)

    def _on_CombatEnded(self, e: S.CombatEnded, version: int, at: str) -> None:
        self.campaign.set(version, campaign.COMBAT, None)

    def _on_GameStateRecorded(self, e: S.GameStateRecorded, version: int, at: str) -> None:
        self.campaign.recorded(version, e.kind, e.key, e.data)

    def _refresh_pending_flags(self, to_version: int) -> None:
        """After a rewind a retried turn is back to its state at ``to_version``."""
        for turn_id, message in self._turn_message.items():
            if message["version"] > to_version:
                continue
            replies = [
                m
                for m in self.messages
                if m["turn_id"] == turn_id
                and m["kind"] in REPLY_KINDS
                and m["version"] <= to_version
            ]
            message["pending"] = not replies and not message.get("held", False)

    def _on_InviteIssued(self, e: S.InviteIssued, version: int, at: str) -> None:
        self.invites[str(e.invite_id)] = {
            "invite_id": str(e.invite_id),
            "role": e.role,
            "expires_at": _iso(e.expires_at),
            "max_uses": e.max_uses,
            "uses": 0,
            "revoked": False,
            "created_at": at,
        }

    def _on_InviteRevoked(self, e: S.InviteRevoked, version: int, at: str) -> None:
        self.invites[str(e.invite_id)]["revoked"] = True

    def _on_MemberJoined(self, e: S.MemberJoined, version: int, at: str) -> None:
        self.members, self.owner = fold_member(
            self.members, self.owner, e.user_id, e.role, e.display_name
        )
        if e.invite_id is not None and str(e.invite_id) in self.invites:
            self.invites[str(e.invite_id)]["uses"] += 1

    def _on_MemberRoleChanged(self, e: S.MemberRoleChanged, version: int, at: str) -> None:
        self.members, self.owner = fold_member(self.members, self.owner, e.user_id, e.role)

    def _on_MemberRemoved(self, e: S.MemberRemoved, version: int, at: str) -> None:
        self.members, _ = fold_member(self.members, self.owner, e.user_id, None)
        if e.blocked:
            self.blocked.add(e.user_id)

    def _on_MediaStored(self, e: S.MediaStored, version: int, at: str) -> None:
        item = {
            "media_id": str(e.media_id),
            "kind": e.kind,
            "content_type": e.content_type,
            "size": e.size,
            "sha256": e.sha256,
            "filename": e.filename,
            "turn_id": str(e.turn_id) if e.turn_id else None,
            "source": e.source,
            "version": version,
        }
        self.media[str(e.media_id)] = item | {"storage_key": e.storage_key}
        if e.turn_id is not None:
            message = self._turn_message.get(str(e.turn_id))
            if message is not None:
                message["media"].append(item)
        elif e.legacy is None:  # imported images belong to the session, not to its transcript
            self._message(
                e,
                version,
                at,
                role="player",
                kind="media",
                author=self._name(e.actor),
                text=e.filename,
                media=[item],
            )

    def _on_MediaGenerationFailed(self, e: S.MediaGenerationFailed, version: int, at: str) -> None:
        """A system note beside the narration: it stands, only its image or voice is missing."""
        what = "image" if e.kind == "image" else "narration audio"
        self._message(
            e,
            version,
            at,
            turn_id=str(e.turn_id),
            kind="media_failed",
            text=f"The {what} for this turn could not be generated ({e.error_kind}): {e.message}",
            structured={"kind": e.kind, "error_kind": e.error_kind},
        )

    HANDLERS: ClassVar[EventTable[Fold]] = EventTable(
        "session",
        {
            S.SessionStarted: _on_SessionStarted,
            S.SessionRenamed: _on_SessionRenamed,
            S.TurnSubmitted: _on_TurnSubmitted,
            S.NarrationRequested: _on_NarrationRequested,
            S.NarrationCompleted: _on_NarrationCompleted,
            S.NarrationFailed: _on_NarrationFailed,
            S.MessagePosted: _on_MessagePosted,
            S.TimelineRewound: _on_TimelineRewound,
            S.InviteIssued: _on_InviteIssued,
            S.InviteRevoked: _on_InviteRevoked,
            S.MemberJoined: _on_MemberJoined,
            S.MemberRoleChanged: _on_MemberRoleChanged,
            S.MemberRemoved: _on_MemberRemoved,
            S.MediaStored: _on_MediaStored,
            S.MediaGenerationFailed: _on_MediaGenerationFailed,
            S.CharacterCreated: _on_CharacterCreated,
            S.CharacterChanged: _on_CharacterChanged,
            S.CharacterRetired: _on_CharacterRetired,
            S.SceneEntered: _on_SceneEntered,
            S.CombatStarted: _on_CombatStarted,
            S.CombatUpdated: _on_CombatUpdated,
            S.CombatEnded: _on_CombatEnded,
            S.GameStateRecorded: _on_GameStateRecorded,
            # Kept for the record only (the timeline and exports show it): nothing to read here.
            S.LegacyArtifactPreserved: IGNORED,
        },
    )

    # -- reading ----------------------------------------------------------------------------

    def is_visible(self, version: int) -> bool:
        return not is_hidden(version, self.hidden)

    def visible_messages(self) -> list[dict[str, Any]]:
        """The history: inherited messages, then visible ones (the latest reply of each turn)."""
        if self._visible_cache is not None and self._visible_cache[0] == self.version:
            return self._visible_cache[1]
        shown = [m for m in self.messages if m["version"] <= 0 or self.is_visible(m["version"])]
        latest_reply: dict[str, int] = {}
        for message in shown:
            if message["kind"] in REPLY_KINDS and message["turn_id"] is not None:
                latest_reply[message["turn_id"]] = message["version"]
        result = self.inherited + [
            m
            for m in shown
            if m["kind"] not in REPLY_KINDS
            or m["turn_id"] is None  # a narration that answers no turn (an imported intro)
            or latest_reply.get(m["turn_id"]) == m["version"]
        ]
        self._visible_cache = (self.version, result)
        return result

    def history_page(
        self, after: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` visible messages with a version above ``after``, and the cursor for
        the next page (None on the last)."""
        shown = [m for m in self.visible_messages() if after is None or m["version"] > after]
        page = shown[:limit]
        return page, page[-1]["version"] if len(shown) > limit and page else None

    def history_before(
        self, before: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """The last ``limit`` visible messages with a version below ``before`` (a page read
        backwards, as a story is scrolled up), the cursor for the older page (None on the
        first) and for the newer one (None on the last)."""
        visible = self.visible_messages()
        older = [m for m in visible if m["version"] < before]
        page = older[-limit:]
        previous = page[0]["version"] if len(older) > limit else None
        newer = page[-1]["version"] if page and len(visible) > len(older) else None
        return page, previous, newer

    def snapshot(self) -> SessionView:
        """A copy for one request to read while other requests keep folding into this view."""
        visible = self.visible_messages()
        return replace(
            self,
            members={k: v.copy() for k, v in self.members.items()},
            blocked=set(self.blocked),
            invites={k: v.copy() for k, v in self.invites.items()},
            media=dict(self.media),
            messages=[],
            hidden=list(self.hidden),
            _turn_message={},
            campaign=self.campaign.latest(),
            _visible_cache=(self.version, visible),
        )

    def role_of(self, user_id: str) -> str | None:
        member = self.members.get(user_id)
        return member["role"] if member else None
