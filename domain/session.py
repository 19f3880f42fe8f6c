"""The CampaignSession aggregate: one event stream per campaign session, and the rules it keeps.

It holds only what commands must check (owner, members, blocked users, invites, turn states,
recent idempotency keys, hidden version ranges, and the campaign state: characters and who plays
them, the scene and combat a narration changes, kept as a change log so rewinds can take them
back); the transcript lives in projections.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import campaign, roles
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.inputs import check_json, check_line, check_text

TURN_KINDS: Final = frozenset({"action", "context", "ooc"})
MEDIA_KINDS: Final = frozenset({"image", "audio"})
MEDIA_SOURCES: Final = frozenset({"upload", "generated", "legacy"})
GAME_STATE_KINDS: Final = frozenset(
    {"character", "scene", "turn", "combat", "summary", "campaign_data"}
)
MESSAGE_ROLES: Final = frozenset({"narrator", "system"})  # messages that answer no turn
IDEMPOTENCY_WINDOW: Final = 256  # keys remembered per session; older repeats write a new turn

# Turn states. A "held" turn was imported while awaiting a reply: it waits for an explicit retry.
PENDING: Final = "pending"
NARRATED: Final = "narrated"
FAILED: Final = "failed"
HELD: Final = "held"


class Member(TypedDict):
    role: str
    display_name: str


class Invite(TypedDict):
    token_sha256: str
    role: str
    expires_at: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool


class RememberedTurn(TypedDict):
    turn_id: str
    version: int
    fingerprint: str


class NotAMember(NotFound):
    code = "session_not_found"


class RoleTooLow(Forbidden):
    code = "forbidden"


class UserBlocked(Forbidden):
    code = "blocked"


class InviteInvalid(NotFound):
    """One answer for unknown, expired, revoked and used-up tokens: none is told apart."""

    code = "invite_invalid"


class InviteNotFound(NotFound):
    code = "invite_not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class TurnNotFound(NotFound):
    code = "turn_not_found"


class NarrationInProgress(Conflict):
    code = "narration_in_progress"


class InvalidTurn(RuleViolation):
    code = "invalid_turn"


class IdempotencyKeyReused(RuleViolation):
    code = "idempotency_key_reused"


class InvalidRewind(RuleViolation):
    code = "invalid_rewind"


class OwnerIsPermanent(RuleViolation):
    code = "owner_is_permanent"


class InvalidValue(RuleViolation):
    code = "invalid_value"


class NotALegacySession(RuleViolation):
    code = "not_a_legacy_session"


def _require_in(value: str, allowed: frozenset[str], field: str) -> None:
    if value not in allowed:
        raise InvalidValue(f"{field} must be one of {sorted(allowed)}", field=field, value=value)


class CampaignSession(Aggregate):
    """A campaign session: its members, invites, turns and everything that happened in it."""

    TOPIC = "gaia.CampaignSession"
    # Version 2 keeps each turn's state log as one string instead of a list of pairs;
    # version 3 also keeps the turns waiting for narration apart, so finding them is cheap;
    # version 4 keeps the campaign state (characters, scene, combat) as a change log.
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["turns"] = {
            turn_id: ";".join(f"{version}:{status}" for version, status in log)
            for turn_id, log in state.get("turns", {}).items()
        }

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["waiting"] = _waiting(state.get("turns", {}))

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state["campaign"] = {}  # no campaign event existed before version 4

    class Created(Aggregate.Created):
        # Never recorded: the library derives one per aggregate; SessionStarted is our creation.
        TOPIC = "gaia.CampaignSession.Created"

    class SessionStarted(Aggregate.Created):
        TOPIC = "gaia.SessionStarted"
        title: str
        owner: str | None
        owner_name: str | None
        settings: dict[str, Any]
        origin: dict[str, Any]
        actor: str | None
        occurred_at: datetime | None

    class SessionRenamed(Aggregate.Event):
        TOPIC = "gaia.SessionRenamed"
        title: str
        actor: str | None
        occurred_at: datetime | None

    class TurnSubmitted(Aggregate.Event):
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
        actor: str | None
        occurred_at: datetime | None

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

    class NarrationCompleted(Aggregate.Event):
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
        occurred_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["legacy"] = None

    class NarrationFailed(Aggregate.Event):
        TOPIC = "gaia.NarrationFailed"
        turn_id: UUID
        error_kind: str
        message: str
        attempts: int
        occurred_at: datetime | None

    class NarrationRequested(Aggregate.Event):
        TOPIC = "gaia.NarrationRequested"
        turn_id: UUID
        actor: str | None
        occurred_at: datetime | None

    class TimelineRewound(Aggregate.Event):
        TOPIC = "gaia.TimelineRewound"
        to_version: int
        actor: str | None
        occurred_at: datetime | None

    class InviteIssued(Aggregate.Event):
        TOPIC = "gaia.InviteIssued"
        invite_id: UUID
        token_sha256: str
        role: str
        expires_at: datetime | None
        max_uses: int | None
        actor: str | None
        occurred_at: datetime | None

    class InviteRevoked(Aggregate.Event):
        TOPIC = "gaia.InviteRevoked"
        invite_id: UUID
        actor: str | None
        occurred_at: datetime | None

    class MemberJoined(Aggregate.Event):
        TOPIC = "gaia.MemberJoined"
        user_id: str
        display_name: str
        role: str
        invite_id: UUID | None
        actor: str | None
        occurred_at: datetime | None

    class MemberRoleChanged(Aggregate.Event):
        TOPIC = "gaia.MemberRoleChanged"
        user_id: str
        role: str
        actor: str | None
        occurred_at: datetime | None

    class MemberRemoved(Aggregate.Event):
        TOPIC = "gaia.MemberRemoved"
        user_id: str
        blocked: bool
        actor: str | None
        occurred_at: datetime | None

    class MediaStored(Aggregate.Event):
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
        actor: str | None
        occurred_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["legacy"] = None

    class MediaGenerationFailed(Aggregate.Event):
        """An image or speech provider gave nothing for a narrated turn; the text still stands."""

        TOPIC = "gaia.MediaGenerationFailed"
        turn_id: UUID
        kind: str
        error_kind: str
        message: str
        occurred_at: datetime | None

    class GameStateRecorded(Aggregate.Event):
        TOPIC = "gaia.GameStateRecorded"
        kind: str
        key: str
        data: Any
        actor: str | None
        occurred_at: datetime | None

    class LegacyArtifactPreserved(Aggregate.Event):
        TOPIC = "gaia.LegacyArtifactPreserved"
        path: str
        sha256: str
        content: Any
        occurred_at: datetime | None

    class MessagePosted(Aggregate.Event):
        """A narrator or system message that answers no turn (a campaign intro, a notice)."""

        TOPIC = "gaia.MessagePosted"
        role: str
        text: str
        structured: dict[str, Any]
        legacy: dict[str, Any] | None
        actor: str | None
        occurred_at: datetime | None

    class CharacterCreated(Aggregate.Event):
        """A player made a character (``kind`` pc), or the owner an NPC (``kind`` npc)."""

        TOPIC = "gaia.CharacterCreated"
        character_id: str
        owner: str | None
        kind: str
        sheet: dict[str, Any]
        actor: str | None
        occurred_at: datetime | None

    class CharacterChanged(Aggregate.Event):
        """Fields of a character sheet changed; a None value cleared its field."""

        TOPIC = "gaia.CharacterChanged"
        character_id: str
        changes: dict[str, Any]
        actor: str | None
        occurred_at: datetime | None

    class CharacterRetired(Aggregate.Event):
        TOPIC = "gaia.CharacterRetired"
        character_id: str
        actor: str | None
        occurred_at: datetime | None

    class SceneEntered(Aggregate.Event):
        """The narrator's reply to ``turn_id`` moved the story to ``scene``."""

        TOPIC = "gaia.SceneEntered"
        scene: dict[str, Any]
        turn_id: UUID | None
        occurred_at: datetime | None

    class CombatStarted(Aggregate.Event):
        """Combat began: ``combat`` holds combatants (hit points, status), round, initiative."""

        TOPIC = "gaia.CombatStarted"
        combat: dict[str, Any]
        turn_id: UUID | None
        occurred_at: datetime | None

    class CombatUpdated(Aggregate.Event):
        TOPIC = "gaia.CombatUpdated"
        combat: dict[str, Any]
        turn_id: UUID | None
        occurred_at: datetime | None

    class CombatEnded(Aggregate.Event):
        TOPIC = "gaia.CombatEnded"
        turn_id: UUID | None
        occurred_at: datetime | None

    # -- creation -------------------------------------------------------------------------

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
        title = title.strip()
        if not title:
            raise InvalidValue("title must not be blank", field="title")
        check_line(title, "title")
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
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        self.title = title
        self.owner = owner
        self.settings = settings
        self.origin = origin
        self.members: dict[str, Member] = {}
        if owner is not None:
            self.members[owner] = {"role": roles.OWNER, "display_name": owner_name or owner}
        self.blocked: list[str] = []
        self.invites: dict[str, Invite] = {}
        # turn id -> [[version, state], ...]: each state change and where it happened.
        # turn id -> "version:state;version:state...": each state change and where it happened.
        # Plain strings, because the library deep-copies the aggregate on every load.
        self.turns: dict[str, str] = {}
        self.waiting: dict[str, int] = {}  # turn id -> version it started waiting at
        self.hidden: list[list[int]] = []  # inclusive version ranges hidden by rewinds
        self.idempotency: dict[str, RememberedTurn] = {}
        self.campaign: campaign.Log = {}  # characters, scene, combat (domain/campaign.py)

    # -- queries ----------------------------------------------------------------------------

    def role_of(self, user_id: str) -> str | None:
        member = self.members.get(user_id)
        return member["role"] if member else None

    def require(self, actor: str, needed: str) -> None:
        """Raise unless ``actor`` is a member with at least the ``needed`` role."""
        role = self.role_of(actor)
        if role is None:
            raise NotAMember("session not found", session_id=str(self.id))
        if not roles.at_least(role, needed):
            raise RoleTooLow(f"this needs the {needed} role", needed=needed, role=role)

    def is_visible(self, version: int) -> bool:
        """False for versions a rewind has hidden from history (the timeline keeps them)."""
        return 1 <= version <= self.version and not any(
            low <= version <= high for low, high in self.hidden
        )

    def turn_state(self, turn_id: str, at_version: int | None = None) -> str | None:
        log = _entries(self.turns.get(turn_id, ""))
        states = [state for version, state in log if at_version is None or version <= at_version]
        return states[-1] if states else None

    def is_quiet(self, version: int) -> bool:
        """True when ``version`` is visible and no turn was waiting for narration there."""
        return self.is_visible(version) and all(
            self.turn_state(turn_id, version) != PENDING for turn_id in self.turns
        )

    def latest_quiet_version(self) -> int:
        version = self.version
        while version > 1 and not self.is_quiet(version):
            version -= 1
        return version

    def pending_turns(self) -> list[str]:
        """Turns waiting for narration, in the order they started waiting."""
        return [tid for tid, _ in sorted(self.waiting.items(), key=lambda item: item[1])]

    def _log_turn(self, turn_id: UUID, state: str) -> None:
        """Inside an ``@event`` body: the turn changed state at the version being applied."""
        tid = str(turn_id)
        self.turns[tid] = f"{self.turns[tid]};{_entry(self._applying, state)}"
        if state == PENDING:
            self.waiting[tid] = self._applying
        else:
            self.waiting.pop(tid, None)

    @property
    def _applying(self) -> int:
        """Inside an ``@event`` body: the version of the event being applied.

        The library sets ``version`` only after the body has run.
        """
        return self.version + 1

    # -- session ----------------------------------------------------------------------------

    def rename(self, *, actor: str, title: str, at: datetime | None) -> None:
        self.require(actor, roles.OWNER)
        title = title.strip()
        if not title:
            raise InvalidValue("title must not be blank", field="title")
        check_line(title, "title")
        if title != self.title:
            self._renamed(title=title, actor=actor, occurred_at=at)

    @event(SessionRenamed)
    def _renamed(self, *, title: str, actor: str | None, occurred_at: datetime | None) -> None:
        self.title = title

    # -- turns and narration ----------------------------------------------------------------

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
        self.require(actor, roles.PLAYER)
        check_line(idempotency_key, "idempotency_key")
        check_text(text, "text")
        _check_character(character)
        character = self._speaking_as(actor, character)
        fingerprint = _fingerprint(text, kind, character)
        if idempotency_key is not None:
            remembered = self.idempotency.get(_idempotency_slot(actor, idempotency_key))
            if remembered is not None:
                if remembered["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was used for a different turn",
                        idempotency_key=idempotency_key,
                    )
                return remembered["turn_id"], remembered["version"], True
        if not text.strip():
            raise InvalidTurn("text must not be blank", field="text")
        _require_in(kind, TURN_KINDS, "kind")
        if str(turn_id) in self.turns:
            raise InvalidTurn("turn id already used", turn_id=str(turn_id))
        self._turn_submitted(
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

    @event(TurnSubmitted)
    def _turn_submitted(
        self,
        *,
        turn_id: UUID,
        text: str,
        kind: str,
        character: dict[str, str] | None,
        idempotency_key: str | None,
        held: bool,
        legacy: dict[str, Any] | None,
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        self.turns[str(turn_id)] = _entry(self._applying, HELD if held else PENDING)
        if not held:
            self.waiting[str(turn_id)] = self._applying
        if idempotency_key is not None and actor is not None:
            self.idempotency[_idempotency_slot(actor, idempotency_key)] = {
                "turn_id": str(turn_id),
                "version": self._applying,
                "fingerprint": _fingerprint(text, kind, character),
            }
            while len(self.idempotency) > IDEMPOTENCY_WINDOW:
                del self.idempotency[next(iter(self.idempotency))]

    def _require_pending(self, turn_id: UUID) -> None:
        state = self.turn_state(str(turn_id))
        if state is None:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        if state != PENDING:
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
        self._narration_completed(
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

    def _fold_world(self, structured: dict[str, Any], turn_id: UUID, at: datetime | None) -> None:
        """Record what a narration's structured reply changed in the world."""
        scene_now = campaign.current(self.campaign, campaign.SCENE)
        combat_now = campaign.current(self.campaign, campaign.COMBAT)
        for change, value in campaign.world_changes(structured, scene_now, combat_now):
            if change == campaign.SCENE:
                self._scene_entered(scene=value, turn_id=turn_id, occurred_at=at)
            elif change == "combat_started":
                self._combat_started(combat=value, turn_id=turn_id, occurred_at=at)
            elif change == "combat_updated":
                self._combat_updated(combat=value, turn_id=turn_id, occurred_at=at)
            else:
                self._combat_ended(turn_id=turn_id, occurred_at=at)

    @event(SceneEntered)
    def _scene_entered(
        self, *, scene: dict[str, Any], turn_id: UUID | None, occurred_at: datetime | None
    ) -> None:
        campaign.record(self.campaign, campaign.SCENE, self._applying, scene)

    @event(CombatStarted)
    def _combat_started(
        self, *, combat: dict[str, Any], turn_id: UUID | None, occurred_at: datetime | None
    ) -> None:
        campaign.record(self.campaign, campaign.COMBAT, self._applying, combat)

    @event(CombatUpdated)
    def _combat_updated(
        self, *, combat: dict[str, Any], turn_id: UUID | None, occurred_at: datetime | None
    ) -> None:
        campaign.record(self.campaign, campaign.COMBAT, self._applying, combat)

    @event(CombatEnded)
    def _combat_ended(self, *, turn_id: UUID | None, occurred_at: datetime | None) -> None:
        campaign.record(self.campaign, campaign.COMBAT, self._applying, None)

    @event(NarrationCompleted)
    def _narration_completed(
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
        legacy: dict[str, Any] | None,
        occurred_at: datetime | None,
    ) -> None:
        self._log_turn(turn_id, NARRATED)

    def fail_narration(
        self, *, turn_id: UUID, error_kind: str, message: str, attempts: int, at: datetime | None
    ) -> None:
        self._require_pending(turn_id)
        self._narration_failed(
            turn_id=turn_id,
            error_kind=error_kind,
            message=message,
            attempts=attempts,
            occurred_at=at,
        )

    @event(NarrationFailed)
    def _narration_failed(
        self,
        *,
        turn_id: UUID,
        error_kind: str,
        message: str,
        attempts: int,
        occurred_at: datetime | None,
    ) -> None:
        self._log_turn(turn_id, FAILED)

    def request_narration(self, *, actor: str, turn_id: UUID, at: datetime | None) -> None:
        """Narrate a narrated, failed or held turn again (a retry)."""
        self.require(actor, roles.PLAYER)
        state = self.turn_state(str(turn_id))
        if state is None:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        if state == PENDING:
            raise NarrationInProgress("the turn is already waiting for narration")
        self._narration_requested(turn_id=turn_id, actor=actor, occurred_at=at)

    @event(NarrationRequested)
    def _narration_requested(
        self, *, turn_id: UUID, actor: str | None, occurred_at: datetime | None
    ) -> None:
        self._log_turn(turn_id, PENDING)

    def rewind(self, *, actor: str, to_version: int, at: datetime | None) -> None:
        self.require(actor, roles.OWNER)
        if not 1 <= to_version < self.version or not self.is_visible(to_version):
            raise InvalidRewind(
                "to_version must be an earlier visible version", to_version=to_version
            )
        if not self.is_quiet(to_version):
            raise InvalidRewind(
                "a turn was waiting for narration at that version", to_version=to_version
            )
        self._rewound(to_version=to_version, actor=actor, occurred_at=at)

    @event(TimelineRewound)
    def _rewound(self, *, to_version: int, actor: str | None, occurred_at: datetime | None) -> None:
        if to_version < self.version:  # everything after to_version, up to this event
            self.hidden.append([to_version + 1, self.version])
        for turn_id in list(self.turns):
            kept = [(v, state) for v, state in _entries(self.turns[turn_id]) if v <= to_version]
            if kept:
                self.turns[turn_id] = ";".join(_entry(v, state) for v, state in kept)
            else:
                del self.turns[turn_id]
        self.waiting = _waiting(self.turns)
        campaign.rewind(self.campaign, to_version)

    # -- characters ---------------------------------------------------------------------------

    def campaign_state(self) -> dict[str, Any]:
        """Characters by id (retired ones too), the current scene and the active combat."""
        return campaign.state(self.campaign)

    def character(self, character_id: str) -> dict[str, Any] | None:
        sheet: dict[str, Any] | None = campaign.current(
            self.campaign, campaign.CHARACTER_PREFIX + character_id
        )
        return sheet

    def may_edit(self, actor: str, sheet: dict[str, Any]) -> bool:
        """A player edits her own characters; the owner edits any."""
        return sheet["owner"] == actor or self.role_of(actor) == roles.OWNER

    def _speaking_as(self, actor: str, character: dict[str, str] | None) -> dict[str, str] | None:
        """The turn's character: an id must name a live character the caller may play (her
        own, or for the owner an NPC too), and the turn then carries its name. A name alone is
        a free label, as in imported transcripts ("Player" when none was chosen)."""
        if character is None or not character.get("id"):
            return character
        sheet = self.character(character["id"])
        playable = (
            sheet is not None
            and not sheet["retired"]
            and (
                sheet["owner"] == actor
                or (sheet["kind"] == "npc" and self.role_of(actor) == roles.OWNER)
            )
        )
        if sheet is None or not playable:
            raise campaign.UnknownCharacter(
                "character_id must name one of your characters",
                field="character_id",
                character_id=character["id"],
            )
        return {"id": character["id"], "name": character.get("name") or sheet["name"]}

    def create_character(
        self,
        *,
        actor: str,
        character_id: str,
        kind: str,
        sheet: dict[str, Any],
        at: datetime | None,
    ) -> None:
        self.require(actor, roles.OWNER if kind == "npc" else roles.PLAYER)
        _require_in(kind, campaign.CHARACTER_KINDS, "kind")
        if not character_id:
            raise InvalidValue("character_id must not be empty", field="character_id")
        check_line(character_id, "character_id")
        campaign.check_sheet(sheet, creating=True)
        if self.character(character_id) is not None:
            raise campaign.CharacterExists(
                "a character with this id exists", character_id=character_id
            )
        self._character_created(
            character_id=character_id,
            owner=actor,
            kind=kind,
            sheet=sheet,
            actor=actor,
            occurred_at=at,
        )

    @event(CharacterCreated)
    def _character_created(
        self,
        *,
        character_id: str,
        owner: str | None,
        kind: str,
        sheet: dict[str, Any],
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        made = campaign.new_sheet(character_id, owner, kind, sheet, self._applying)
        campaign.record(
            self.campaign, campaign.CHARACTER_PREFIX + character_id, self._applying, made
        )

    def _editable(self, actor: str, character_id: str) -> dict[str, Any]:
        self.require(actor, roles.PLAYER)
        sheet = self.character(character_id)
        if sheet is None:
            raise campaign.CharacterNotFound("character not found", character_id=character_id)
        if not self.may_edit(actor, sheet):
            raise campaign.NotYourCharacter(
                "only its player or the session owner may change a character",
                character_id=character_id,
            )
        if sheet["retired"]:
            raise campaign.CharacterRetired("the character is retired", character_id=character_id)
        return sheet

    def change_character(
        self, *, actor: str, character_id: str, changes: dict[str, Any], at: datetime | None
    ) -> None:
        sheet = self._editable(actor, character_id)
        campaign.check_sheet(changes, creating=False)
        if any(sheet.get(name) != value for name, value in changes.items()):
            self._character_changed(
                character_id=character_id, changes=changes, actor=actor, occurred_at=at
            )

    @event(CharacterChanged)
    def _character_changed(
        self,
        *,
        character_id: str,
        changes: dict[str, Any],
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        key = campaign.CHARACTER_PREFIX + character_id
        sheet = campaign.current(self.campaign, key)
        campaign.record(
            self.campaign,
            key,
            self._applying,
            campaign.changed_sheet(sheet, changes, self._applying),
        )

    def retire_character(self, *, actor: str, character_id: str, at: datetime | None) -> None:
        self._editable(actor, character_id)
        self._character_retired(character_id=character_id, actor=actor, occurred_at=at)

    @event(CharacterRetired)
    def _character_retired(
        self, *, character_id: str, actor: str | None, occurred_at: datetime | None
    ) -> None:
        key = campaign.CHARACTER_PREFIX + character_id
        sheet = campaign.current(self.campaign, key) | {
            "retired": True,
            "updated_version": self._applying,
        }
        campaign.record(self.campaign, key, self._applying, sheet)

    def inherit_campaign(self, parent_state: dict[str, Any], at: datetime | None) -> None:
        """A fork starts where its parent stood: its characters (with their players), scene
        and combat, recorded again as this session's own events."""
        for character_id, sheet in parent_state["characters"].items():
            if sheet["retired"]:
                continue
            fields = {k: v for k, v in sheet.items() if k in campaign.SHEET_FIELDS}
            self._character_created(
                character_id=character_id,
                owner=sheet["owner"],
                kind=sheet["kind"],
                sheet=fields,
                actor=None,
                occurred_at=at,
            )
        if parent_state["scene"] is not None:
            self._scene_entered(scene=parent_state["scene"], turn_id=None, occurred_at=at)
        if parent_state["combat"] is not None:
            self._combat_started(combat=parent_state["combat"], turn_id=None, occurred_at=at)

    # -- invites and members ----------------------------------------------------------------

    def issue_invite(
        self,
        *,
        actor: str,
        invite_id: UUID,
        token_sha256: str,
        role: str,
        expires_at: datetime | None,
        max_uses: int | None,
        at: datetime | None,
    ) -> None:
        self.require(actor, roles.OWNER)
        _require_in(role, roles.GRANTABLE, "role")
        if max_uses is not None and max_uses < 1:
            raise InvalidValue("max_uses must be at least 1", field="max_uses")
        if expires_at is not None and at is not None and expires_at <= at:
            raise InvalidValue("expires_at must be in the future", field="expires_at")
        self._invite_issued(
            invite_id=invite_id,
            token_sha256=token_sha256,
            role=role,
            expires_at=expires_at,
            max_uses=max_uses,
            actor=actor,
            occurred_at=at,
        )

    @event(InviteIssued)
    def _invite_issued(
        self,
        *,
        invite_id: UUID,
        token_sha256: str,
        role: str,
        expires_at: datetime | None,
        max_uses: int | None,
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        self.invites[str(invite_id)] = {
            "token_sha256": token_sha256,
            "role": role,
            "expires_at": expires_at,
            "max_uses": max_uses,
            "uses": 0,
            "revoked": False,
        }

    def revoke_invite(self, *, actor: str, invite_id: UUID, at: datetime | None) -> None:
        self.require(actor, roles.OWNER)
        invite = self.invites.get(str(invite_id))
        if invite is None:
            raise InviteNotFound("invite not found", invite_id=str(invite_id))
        if not invite["revoked"]:
            self._invite_revoked(invite_id=invite_id, actor=actor, occurred_at=at)

    @event(InviteRevoked)
    def _invite_revoked(
        self, *, invite_id: UUID, actor: str | None, occurred_at: datetime | None
    ) -> None:
        self.invites[str(invite_id)]["revoked"] = True

    def _invite_by_hash(self, token_sha256: str) -> str | None:
        for invite_id, invite in self.invites.items():
            if invite["token_sha256"] == token_sha256:
                return invite_id
        return None

    def is_usable(self, invite_id: str, at: datetime) -> bool:
        invite = self.invites[invite_id]
        expired = invite["expires_at"] is not None and invite["expires_at"] <= at
        used_up = invite["max_uses"] is not None and invite["uses"] >= invite["max_uses"]
        return not (invite["revoked"] or expired or used_up)

    def accept_invite(
        self, *, token_sha256: str, user_id: str, display_name: str, at: datetime
    ) -> tuple[str, bool]:
        """Join through an invite; returns ``(role, joined)``.

        A member following any link of the session again is a no-op that uses nothing up.
        """
        invite_id = self._invite_by_hash(token_sha256)
        if invite_id is None:
            raise InviteInvalid("this invite link is not valid")
        check_line(user_id, "user_id")
        check_line(display_name, "display_name")
        role = self.role_of(user_id)
        if role is not None:
            return role, False
        if user_id in self.blocked:
            raise UserBlocked("you cannot join this session")
        if not self.is_usable(invite_id, at):
            raise InviteInvalid("this invite link is not valid")
        role = self.invites[invite_id]["role"]
        self._member_joined(
            user_id=user_id,
            display_name=display_name,
            role=role,
            invite_id=UUID(invite_id),
            actor=user_id,
            occurred_at=at,
        )
        return role, True

    def add_member(
        self, *, user_id: str, display_name: str, role: str, at: datetime | None
    ) -> bool:
        """Add a member without an invite (imports and operators); False if already one.

        Adding an ``owner`` is only possible while the session has none.
        """
        _require_in(role, frozenset(roles.RANK), "role")
        check_line(user_id, "user_id")
        check_line(display_name, "display_name")
        if role == roles.OWNER and self.owner is not None:
            raise OwnerIsPermanent("the session already has an owner")
        if user_id in self.members:
            if role != roles.OWNER:
                return False
            self._role_changed(user_id=user_id, role=role, actor=None, occurred_at=at)
            return True
        self._member_joined(
            user_id=user_id,
            display_name=display_name,
            role=role,
            invite_id=None,
            actor=None,
            occurred_at=at,
        )
        return True

    @event(MemberJoined)
    def _member_joined(
        self,
        *,
        user_id: str,
        display_name: str,
        role: str,
        invite_id: UUID | None,
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        self.members[user_id] = {"role": role, "display_name": display_name}
        if role == roles.OWNER:
            self.owner = user_id
        if invite_id is not None:
            self.invites[str(invite_id)]["uses"] += 1

    def change_role(self, *, actor: str, user_id: str, role: str, at: datetime | None) -> None:
        self.require(actor, roles.OWNER)
        _require_in(role, roles.GRANTABLE, "role")
        check_line(user_id, "user_id")
        current = self.role_of(user_id)
        if current is None:
            raise MemberNotFound("member not found", user_id=user_id)
        if current == roles.OWNER:
            raise OwnerIsPermanent("the owner cannot be demoted")
        if current != role:
            self._role_changed(user_id=user_id, role=role, actor=actor, occurred_at=at)

    @event(MemberRoleChanged)
    def _role_changed(
        self, *, user_id: str, role: str, actor: str | None, occurred_at: datetime | None
    ) -> None:
        self.members[user_id]["role"] = role
        if role == roles.OWNER:
            self.owner = user_id

    def remove_member(self, *, actor: str, user_id: str, block: bool, at: datetime | None) -> None:
        """The owner removes (and may block) anyone but themself; any other member may leave."""
        leaving = actor == user_id and not block
        self.require(actor, roles.SPECTATOR if leaving else roles.OWNER)
        check_line(user_id, "user_id")
        if user_id == self.owner:
            raise OwnerIsPermanent("the owner cannot be removed")
        if user_id not in self.members and not block:
            raise MemberNotFound("member not found", user_id=user_id)
        if user_id in self.members or user_id not in self.blocked:
            self._member_removed(user_id=user_id, blocked=block, actor=actor, occurred_at=at)

    @event(MemberRemoved)
    def _member_removed(
        self, *, user_id: str, blocked: bool, actor: str | None, occurred_at: datetime | None
    ) -> None:
        self.members.pop(user_id, None)
        if blocked and user_id not in self.blocked:
            self.blocked.append(user_id)

    # -- media, game state, legacy artifacts ------------------------------------------------

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
            self.require(actor, roles.PLAYER)
        _require_in(kind, MEDIA_KINDS, "kind")
        _require_in(source, MEDIA_SOURCES, "source")
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
        if turn_id is not None and str(turn_id) not in self.turns:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        self._media_stored(
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

    @event(MediaStored)
    def _media_stored(
        self,
        *,
        media_id: UUID,
        kind: str,
        content_type: str,
        size: int,
        sha256: str,
        storage_key: str,
        filename: str,
        turn_id: UUID | None,
        source: str,
        legacy: dict[str, Any] | None,
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        """Media lives in projections; the aggregate has no rule that needs it."""

    def fail_media_generation(
        self, *, turn_id: UUID, kind: str, error_kind: str, message: str, at: datetime | None
    ) -> None:
        """Record that generating the ``kind`` media of a turn failed (the narrator's doing)."""
        _require_in(kind, MEDIA_KINDS, "kind")
        if not error_kind:
            raise InvalidValue("error_kind must not be empty", field="error_kind")
        if str(turn_id) not in self.turns:
            raise TurnNotFound("turn not found", turn_id=str(turn_id))
        self._media_generation_failed(
            turn_id=turn_id, kind=kind, error_kind=error_kind, message=message, occurred_at=at
        )

    @event(MediaGenerationFailed)
    def _media_generation_failed(
        self,
        *,
        turn_id: UUID,
        kind: str,
        error_kind: str,
        message: str,
        occurred_at: datetime | None,
    ) -> None:
        """A note for the timeline; no rule depends on it."""

    def record_game_state(
        self, *, actor: str | None, kind: str, key: str, data: Any, at: datetime | None
    ) -> None:
        if actor is not None:
            self.require(actor, roles.PLAYER)
        _require_in(kind, GAME_STATE_KINDS, "kind")
        if not key:
            raise InvalidValue("key must not be empty", field="key")
        check_line(key, "key")
        check_json(data, "data")
        self._game_state_recorded(kind=kind, key=key, data=data, actor=actor, occurred_at=at)

    @event(GameStateRecorded)
    def _game_state_recorded(
        self, *, kind: str, key: str, data: Any, actor: str | None, occurred_at: datetime | None
    ) -> None:
        """Game state lives in projections; the aggregate has no rule that needs it."""

    def preserve_artifact(
        self, *, path: str, sha256: str, content: Any, at: datetime | None
    ) -> None:
        if not path:
            raise InvalidValue("path must not be empty", field="path")
        self._artifact_preserved(path=path, sha256=sha256, content=content, occurred_at=at)

    @event(LegacyArtifactPreserved)
    def _artifact_preserved(
        self, *, path: str, sha256: str, content: Any, occurred_at: datetime | None
    ) -> None:
        """Preserved files live in the stream only; nothing to keep in memory."""

    # -- legacy import ----------------------------------------------------------------------
    # The migration replays a legacy transcript as it was: no member is known to have written
    # it, so there is no actor, and blank or odd content is kept verbatim rather than refused.

    def _require_legacy(self) -> None:
        if self.origin.get("kind") != "legacy":
            raise NotALegacySession(
                "only an imported legacy session takes legacy data", session_id=str(self.id)
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
        _require_in(kind, TURN_KINDS, "kind")
        _check_character(character)
        if str(turn_id) in self.turns:
            raise InvalidTurn("turn id already used", turn_id=str(turn_id))
        self._turn_submitted(
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
        if state != HELD:
            raise InvalidTurn("the turn is not an unanswered imported turn", turn_id=str(turn_id))
        self._narration_completed(
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
        _require_in(role, MESSAGE_ROLES, "role")
        self._message_posted(
            role=role, text=text, structured=structured, legacy=legacy, actor=None, occurred_at=at
        )

    @event(MessagePosted)
    def _message_posted(
        self,
        *,
        role: str,
        text: str,
        structured: dict[str, Any],
        legacy: dict[str, Any] | None,
        actor: str | None,
        occurred_at: datetime | None,
    ) -> None:
        """Messages live in projections; the aggregate has no rule that needs them."""


def _check_character(character: dict[str, str] | None) -> None:
    if character is not None:
        check_line(character.get("id"), "character_id")
        check_line(character.get("name"), "character_name")


def _entry(version: int, state: str) -> str:
    return f"{version}:{state}"


def _entries(log: str) -> list[tuple[int, str]]:
    """The ``(version, state)`` changes of one turn, oldest first."""
    result = []
    for part in log.split(";") if log else ():
        version, _, state = part.partition(":")
        result.append((int(version), state))
    return result


def _last_entry(log: str) -> tuple[int, str]:
    version, _, state = log.rpartition(";")[2].partition(":")
    return int(version), state


def _waiting(turns: dict[str, str]) -> dict[str, int]:
    """Turn id -> version for every turn whose latest state is pending."""
    waiting = {}
    for turn_id, log in turns.items():
        version, state = _last_entry(log)
        if state == PENDING:
            waiting[turn_id] = version
    return waiting


def _idempotency_slot(actor: str, key: str) -> str:
    return f"{actor}\n{key}"


def _fingerprint(text: str, kind: str, character: dict[str, str] | None) -> str:
    payload = json.dumps([text, kind, character], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
