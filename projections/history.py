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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any, ClassVar, Final, TypedDict
from uuid import UUID

from domain import campaign
from domain.roles import Role
from domain.session import CampaignSession as S
from domain.session import Member, fold_member, hidden_by_rewind, is_hidden
from projections.campaign import CampaignView
from projections.dispatch import IGNORED, EventTable
from projections.records import EventRecord, event_record

log = logging.getLogger(__name__)

# What the fold makes of a stream: stored checkpoints of another fold version are not used
# (projections/history_checkpoints.py). Bump it with any change to what the handlers keep.
FOLD_VERSION: Final = 1

REPLY_KINDS = frozenset({"narration", "narration_failed"})


@dataclass
class _VisibleFold:
    """Visible history as worked out over the first ``messages`` messages of a view with
    ``hidden`` rewound ranges and ``inherited`` history, and the version of each turn's reply
    in it."""

    messages: int
    hidden: int
    inherited: list[dict[str, Any]]
    visible: list[dict[str, Any]]
    replied: dict[str, int]

    @classmethod
    def of(cls, view: SessionView) -> _VisibleFold:
        shown = _not_hidden(view.messages, view.hidden)
        replies = [m for m in shown if m["kind"] in REPLY_KINDS and m["turn_id"] is not None]
        replied = {m["turn_id"]: m["version"] for m in replies}
        if len(replied) == len(replies):  # no turn answered twice: every reply is shown
            visible = view.inherited + shown
        else:
            visible = view.inherited + [
                m
                for m in shown
                if m["kind"] not in REPLY_KINDS
                or m["turn_id"] is None  # a narration that answers no turn (an imported intro)
                or replied[m["turn_id"]] == m["version"]
            ]
        return cls(len(view.messages), len(view.hidden), view.inherited, visible, replied)

    def extended(self, view: SessionView) -> list[dict[str, Any]] | None:
        """Visible history of ``view`` now, from this one and the messages added since; None
        when a rewind, a new inherited history or a second reply to a turn came since (then
        it is worked out anew, and this one, part-updated, is dropped). The answer is a new
        list: the one handed out stays as it was."""
        if (
            len(view.hidden) != self.hidden
            or view.inherited is not self.inherited
            or len(view.messages) < self.messages
        ):
            return None
        added = view.messages[self.messages :]
        if not added:  # events that add no message (an answer is never changed: it can stay)
            return self.visible
        added = _not_hidden(added, view.hidden)  # a rewind hides what came before it: be sure
        for message in added:
            if message["kind"] in REPLY_KINDS and message["turn_id"] is not None:
                if message["turn_id"] in self.replied:
                    return None
                self.replied[message["turn_id"]] = message["version"]
        self.messages = len(view.messages)
        self.visible = self.visible + added
        return self.visible


def _not_hidden(
    messages: list[dict[str, Any]], hidden: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """``messages`` less those a rewind hid (``hidden``: the ranges it hid); the same list
    when nothing is hidden."""
    if not hidden:
        return messages
    return [m for m in messages if m["version"] <= 0 or not is_hidden(m["version"], hidden)]


# What history is ordered by (inherited messages have versions up to 0, then the fold's).
_version = itemgetter("version")


Data = dict[str, Any]  # an event's own fields, as a record's ``data`` holds them
# A fold handler: the view, the event's fields and its record.
Fold = Callable[["SessionView", Data, EventRecord], None]


def message_id(session_id: UUID, version: int) -> str:
    """``str(uuid5(session_id, f"message/{version}"))``, without building UUID objects: the
    fold names every message, so this is a large share of its time."""
    digest = bytearray(hashlib.sha1(session_id.bytes + b"message/%d" % version).digest()[:16])  # noqa: S324 - uuid5 is SHA-1 by definition
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    # What the last full ``visible_messages`` saw, for the next to add only what came after.
    _visible_fold: _VisibleFold | None = field(default=None, repr=False)

    # -- folding ----------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        """Fold one domain event (as its record: the fold reads records only)."""
        self.apply_record(event_record(event))

    def apply_record(self, record: EventRecord) -> None:
        """Fold one stored event, as ``projections/records.py`` reads it."""
        version = record["version"]
        try:
            handler = self.HANDLERS.handler_named(record["type"])
            if handler is not None:
                handler(self, record["data"], record)
        except Exception:
            log.exception(
                "session view skipped the event at version %d of session %s",
                version,
                self.session_id,
                extra={"session_id": str(self.session_id), "version": version},
            )
        self.pass_over(version)

    def pass_over(self, version: int) -> None:
        """Stand at ``version``: an event this view ignores, or one just folded."""
        self.version = version
        self._visible_cache = None

    def _name(self, user_id: str | None) -> dict[str, str] | None:
        if user_id is None:
            return None
        member = self.members.get(user_id)
        return {"user_id": user_id, "display_name": member["display_name"] if member else user_id}

    def _message(self, r: EventRecord, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id(self.session_id, r["version"]),
            "version": r["version"],
            "turn_id": None,
            "role": "system",
            "kind": "system",
            "author": None,
            "character": None,
            "text": "",
            "structured": {},
            "media": [],
            "occurred_at": r["occurred_at"],
            "recorded_at": r["recorded_at"],
        }
        message.update(fields)
        self.messages.append(message)
        return message

    # Each handler gets the event's fields (``d``, ids and instants as strings) and its record.

    def _on_SessionStarted(self, d: Data, r: EventRecord) -> None:
        self.title, self.owner, self.origin = d["title"], d["owner"], dict(d["origin"])
        self.settings = dict(d["settings"])
        self.created_at = r["recorded_at"]
        if d["owner"] is not None:
            name = d["owner_name"] or d["owner"]
            self.members, _ = fold_member(self.members, None, d["owner"], Role.OWNER, name)

    def _on_SessionRenamed(self, d: Data, r: EventRecord) -> None:
        self.title = d["title"]

    def _on_TurnSubmitted(self, d: Data, r: EventRecord) -> None:
        turn_id = d["turn_id"]
        message = self._message(
            r,
            turn_id=turn_id,
            role="player",
            kind=d["kind"],
            author=self._name(r["actor"]),
            character=dict(d["character"]) if d["character"] else None,
            text=d["text"],
            pending=not d["held"],
        )
        if d["legacy"] is not None:
            message["legacy"] = _legacy(d["legacy"], d["text"], {})
        if d["held"]:
            message["held"] = True
        self._turn_message[turn_id] = message

    def _settle(self, turn_id: str) -> None:
        message = self._turn_message.get(turn_id)
        if message is not None:
            message["pending"] = False
            message.pop("held", None)

    def _on_NarrationCompleted(self, d: Data, r: EventRecord) -> None:
        turn_id = d["turn_id"]
        self._settle(turn_id)
        message = self._message(
            r,
            turn_id=turn_id,
            role="narrator",
            kind="narration",
            text=d["narrative"],
            structured=dict(d["structured"]),
            answer=d["answer"],
            player_options=list(d["player_options"]),
            provider=d["provider"],
            model=d["model"],
            degraded=d["degraded"],
        )
        if d["legacy"] is not None:
            message["legacy"] = _legacy(d["legacy"], d["narrative"], d["structured"])

    def _on_MessagePosted(self, d: Data, r: EventRecord) -> None:
        message = self._message(
            r,
            role=d["role"],
            kind="narration" if d["role"] == "narrator" else "system",
            text=d["text"],
            structured=dict(d["structured"]),
        )
        if d["legacy"] is not None:
            message["legacy"] = _legacy(d["legacy"], d["text"], d["structured"])

    def _on_NarrationFailed(self, d: Data, r: EventRecord) -> None:
        turn_id = d["turn_id"]
        self._settle(turn_id)
        self._message(
            r,
            turn_id=turn_id,
            kind="narration_failed",
            text=f"The narrator could not answer ({d['error_kind']}): {d['message']}",
            structured={"error_kind": d["error_kind"], "attempts": d["attempts"]},
        )

    def _on_NarrationRequested(self, d: Data, r: EventRecord) -> None:
        message = self._turn_message.get(d["turn_id"])
        if message is not None:
            message["pending"] = True
            message.pop("held", None)

    def _on_TimelineRewound(self, d: Data, r: EventRecord) -> None:
        span = hidden_by_rewind(d["to_version"], r["version"])
        if span is not None:
            self.hidden.append(span)
        self._refresh_pending_flags(d["to_version"])
        self.campaign.rewound(d["to_version"])

    # Campaign state (projections/campaign.py).

    def _on_CharacterCreated(self, d: Data, r: EventRecord) -> None:
        self.campaign.character_created(
            r["version"], d["character_id"], d["owner"], d["kind"], d["sheet"]
        )

    def _on_CharacterChanged(self, d: Data, r: EventRecord) -> None:
        self.campaign.character_changed(r["version"], d["character_id"], d["changes"])

    def _on_CharacterRetired(self, d: Data, r: EventRecord) -> None:
        self.campaign.character_retired(r["version"], d["character_id"])

    def _on_SceneEntered(self, d: Data, r: EventRecord) -> None:
        self.campaign.set(r["version"], campaign.SCENE, d["scene"])

    def _on_CombatStarted(self, d: Data, r: EventRecord) -> None:
        self.campaign.set(r["version"], campaign.COMBAT, d["combat"])

    def _on_CombatUpdated(self, d: Data, r: EventRecord) -> None:
        self.campaign.set(r["version"], campaign.COMBAT, d["combat"])

    def _on_CombatEnded(self, d: Data, r: EventRecord) -> None:
        self.campaign.set(r["version"], campaign.COMBAT, None)

    def _on_GameStateRecorded(self, d: Data, r: EventRecord) -> None:
        self.campaign.recorded(r["version"], d["kind"], d["key"], d["data"])

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

    def _on_InviteIssued(self, d: Data, r: EventRecord) -> None:
        self.invites[d["invite_id"]] = {
            "invite_id": d["invite_id"],
            "role": d["role"],
            "expires_at": d["expires_at"],
            "max_uses": d["max_uses"],
            "uses": 0,
            "revoked": False,
            "created_at": r["recorded_at"],
        }

    def _on_InviteRevoked(self, d: Data, r: EventRecord) -> None:
        self.invites[d["invite_id"]]["revoked"] = True

    def _on_MemberJoined(self, d: Data, r: EventRecord) -> None:
        self.members, self.owner = fold_member(
            self.members, self.owner, d["user_id"], d["role"], d["display_name"]
        )
        if d["invite_id"] is not None and d["invite_id"] in self.invites:
            self.invites[d["invite_id"]]["uses"] += 1

    def _on_MemberRoleChanged(self, d: Data, r: EventRecord) -> None:
        self.members, self.owner = fold_member(self.members, self.owner, d["user_id"], d["role"])

    def _on_MemberRemoved(self, d: Data, r: EventRecord) -> None:
        self.members, _ = fold_member(self.members, self.owner, d["user_id"], None)
        if d["blocked"]:
            self.blocked.add(d["user_id"])

    def _on_MediaStored(self, d: Data, r: EventRecord) -> None:
        item = {
            "media_id": d["media_id"],
            "kind": d["kind"],
            "content_type": d["content_type"],
            "size": d["size"],
            "sha256": d["sha256"],
            "filename": d["filename"],
            "turn_id": d["turn_id"] or None,
            "source": d["source"],
            "version": r["version"],
        }
        self.media[d["media_id"]] = item | {"storage_key": d["storage_key"]}
        if d["turn_id"] is not None:
            message = self._turn_message.get(d["turn_id"])
            if message is not None:
                message["media"].append(item)
        elif d["legacy"] is None:  # imported images belong to the session, not to its transcript
            self._message(
                r,
                role="player",
                kind="media",
                author=self._name(r["actor"]),
                text=d["filename"],
                media=[item],
            )

    def _on_MediaGenerationFailed(self, d: Data, r: EventRecord) -> None:
        """A system note beside the narration: it stands, only its image or voice is missing."""
        what = "image" if d["kind"] == "image" else "narration audio"
        self._message(
            r,
            turn_id=d["turn_id"],
            kind="media_failed",
            text=f"The {what} for this turn could not be generated ({d['error_kind']}): "
            f"{d['message']}",
            structured={"kind": d["kind"], "error_kind": d["error_kind"]},
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

    def visible_messages(self) -> list[dict[str, Any]]:
        """The history: inherited messages, then visible ones (the latest reply of each turn),
        in version order. After events that only added messages that hide or replace none,
        the last answer is extended by them instead of worked out over the whole history."""
        if self._visible_cache is not None and self._visible_cache[0] == self.version:
            return self._visible_cache[1]
        fold = self._visible_fold
        result = fold.extended(self) if fold is not None else None
        if result is None:
            self._visible_fold = fold = _VisibleFold.of(self)
            result = fold.visible
        self._visible_cache = (self.version, result)
        return result

    def visible_newest_first(self) -> Iterator[dict[str, Any]]:
        """``visible_messages()`` from the newest back, made as it is read: the end of a long
        history costs what is read of it, not the whole history. Read backwards, the first
        reply of a turn is its latest, the one shown."""
        hidden, answered = self.hidden, set()
        for message in reversed(self.messages):
            version = message["version"]
            if hidden and version > 0 and is_hidden(version, hidden):
                continue
            if message["kind"] in REPLY_KINDS and message["turn_id"] is not None:
                if message["turn_id"] in answered:
                    continue
                answered.add(message["turn_id"])
            yield message
        yield from reversed(self.inherited)

    def history_page(
        self, after: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` visible messages with a version above ``after``, and the cursor for
        the next page (None on the last)."""
        visible = self.visible_messages()
        start = 0 if after is None else bisect_right(visible, after, key=_version)
        page = visible[start : start + limit]
        return page, page[-1]["version"] if len(visible) - start > limit and page else None

    def history_before(
        self, before: int, limit: int
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """The last ``limit`` visible messages with a version below ``before`` (a page read
        backwards, as a story is scrolled up), the cursor for the older page (None on the
        first) and for the newer one (None on the last)."""
        visible = self.visible_messages()
        end = bisect_left(visible, before, key=_version)
        page = visible[max(0, end - limit) : end]
        previous = page[0]["version"] if end > limit else None
        newer = page[-1]["version"] if page and len(visible) > end else None
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
            _visible_fold=None,
        )

    def role_of(self, user_id: str) -> str | None:
        member = self.members.get(user_id)
        return member["role"] if member else None
