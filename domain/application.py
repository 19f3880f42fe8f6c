"""The Sessions application: one use case per method over CampaignSession streams.

Each command loads the session, applies one aggregate command and saves, serialised per
session inside this process and retried on a version conflict with another process; it
returns what the caller needs next, always with the stream version and global position.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    Transcoder,
)

from domain import roles, tokens
from domain.errors import NotFound, RuleViolation, StoreUnavailable, Throttled, VersionConflict
from domain.ids import legacy_session_id
from domain.session import CampaignSession, InviteInvalid
from domain.store import StreamLocks, drop_broken_connections, position_of
from domain.transcoding import ReadSafeTranscoder

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TITLE: Final = "Untitled campaign"
DEFAULT_SNAPSHOT_INTERVAL: Final = 100
DEFAULT_ATTEMPTS: Final = 20


class SessionNotFound(NotFound):
    code = "session_not_found"


class InvalidForkPoint(RuleViolation):
    code = "invalid_fork_point"


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


@dataclass(frozen=True)
class Written:
    """Where a command left the stream: its version and the global position of its last event."""

    session_id: UUID
    version: int
    position: int


@dataclass(frozen=True)
class TurnAccepted(Written):
    turn_id: UUID
    repeated: bool


@dataclass(frozen=True)
class CharacterMade(Written):
    character_id: str


@dataclass(frozen=True)
class InviteCreated(Written):
    invite_id: UUID
    token: str
    role: str
    expires_at: datetime | None
    max_uses: int | None


@dataclass(frozen=True)
class Joined(Written):
    role: str
    joined: bool


def utc_now() -> datetime:
    return datetime.now(UTC)


class _StreamLocks:
    """One lock per session id, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[UUID, tuple[threading.Lock, list[int]]] = {}

    @contextmanager
    def hold(self, key: UUID) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[key]


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise StoreUnavailable("the event store is unavailable", reason=str(error)) from error


class Sessions(Application[UUID]):
    """Campaign sessions as event streams, with their use cases."""

    name = "gaia"
    is_snapshotting_enabled = True

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        clock: Callable[[], datetime] = utc_now,
        attempts: int = DEFAULT_ATTEMPTS,
        on_saved: Sequence[Callable[[UUID, int, int], None]] = (),
    ) -> None:
        with _store_errors():
            super().__init__(dict(env or {}))
            self._stream_locks = StreamLocks(self.recorder)
        self.snapshot_interval = snapshot_interval
        self.clock = clock
        self.attempts = attempts
        self._locks = _StreamLocks()
        # Called after every committed write with (session id, version, position): views,
        # the turn worker and live streams wake up on it. They must be quick and not raise.
        self.on_saved: list[Callable[[UUID, int, int], None]] = list(on_saved)

    def construct_transcoder(self) -> Transcoder:
        # Decoding that no stored event can break (domain/transcoding.py).
        transcoder: JSONTranscoder = ReadSafeTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _saved(self, written: Written) -> Written:
        for listener in self.on_saved:
            try:
                listener(written.session_id, written.version, written.position)
            except Exception:
                log.exception("on_saved listener failed")
        return written

    # -- the write loop ---------------------------------------------------------------------

    def _update(
        self,
        session_id: UUID,
        command: Callable[[CampaignSession], T],
        *,
        unchanged_at: Callable[[T], int] | None = None,
    ) -> tuple[T, Written]:
        """Load, apply ``command``, save; on a version conflict reload and apply it again."""
        with self._locks.hold(session_id), _store_errors(), self._stream_locks.hold(session_id):
            for attempt in range(self.attempts):
                session = self.get(session_id)
                before = session.version
                result = command(session)
                if not session.pending_events:
                    # Nothing written: answer with the version the command names (a repeated
                    # turn's first version), else the session's current one.
                    version = unchanged_at(result) if unchanged_at else session.version
                    return result, self._written_at(session_id, version)
                try:
                    recordings = self.save(session)
                except IntegrityError:
                    # Another process appended first: reload and re-apply at once. A long
                    # backoff would starve this process against a busy one; a little jitter
                    # keeps two losers from colliding again in lockstep.
                    time.sleep(random.uniform(0, 0.0005 * attempt))  # noqa: S311
                    continue
                self._snapshot_if_due(session, before)
                written = Written(session_id, session.version, recordings[-1].notification.id)
                return result, self._saved(written)
        raise VersionConflict("the session kept changing; try again", session_id=str(session_id))

    def _create(self, session: CampaignSession) -> Written:
        with _store_errors():
            recordings = self.save(session)
        self._snapshot_if_due(session, 0)
        return self._saved(Written(session.id, session.version, recordings[-1].notification.id))

    def _snapshot_if_due(self, session: CampaignSession, before: int) -> None:
        """Snapshot the in-memory session when the save crossed an interval boundary.

        Done here rather than by the library so that no replay is needed and a failed
        snapshot (a later read simply replays more) never turns a committed write into an error.
        """
        interval = self.snapshot_interval
        if (
            not interval
            or self.snapshots is None
            or session.version // interval == before // interval
        ):
            return
        try:
            self.snapshots.put([CampaignSession.Snapshot.take(session)])
        except IntegrityError:
            pass  # another process snapshotted this version first
        except Exception:
            log.exception("snapshot failed", extra={"session_id": str(session.id)})

    def _written_at(self, session_id: UUID, version: int) -> Written:
        position = position_of(self.recorder, session_id, version)
        return Written(session_id, version, position or 0)

    # -- queries ----------------------------------------------------------------------------

    def get(self, session_id: UUID, *, version: int | None = None) -> CampaignSession:
        """The session now, or as it was at ``version``."""
        with _store_errors():
            try:
                session: CampaignSession = self.repository.get(session_id, version=version)
            except AggregateNotFoundError:
                raise SessionNotFound("session not found", session_id=str(session_id)) from None
        return session

    def get_for(
        self, session_id: UUID, actor: str, needed: str = roles.SPECTATOR
    ) -> CampaignSession:
        """The session, if ``actor`` holds at least the ``needed`` role in it."""
        session = self.get(session_id)
        session.require(actor, needed)
        return session

    def drop_broken_connections(self) -> None:
        """Replace the pooled connections that died, once the database answers again."""
        drop_broken_connections(self.recorder)
        self._stream_locks.drop_broken_connections()

    def close(self) -> None:
        self._stream_locks.close()
        super().close()

    def max_position(self) -> int:
        with _store_errors():
            return self.recorder.max_notification_id() or 0

    # -- sessions ---------------------------------------------------------------------------

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
        """Save a session built outside the write loop (an import) in one transaction."""
        return self._create(session)

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
        with self._locks.hold(session_id), _store_errors(), self._stream_locks.hold(session_id):
            parent = self.get_for(session_id, actor)
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

    # -- turns and narration ----------------------------------------------------------------

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
    ) -> Written:
        _, written = self._update(
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
        return written

    def fail_narration(
        self, *, session_id: UUID, turn_id: UUID, error_kind: str, message: str, attempts: int
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.fail_narration(
                turn_id=turn_id,
                error_kind=error_kind,
                message=message,
                attempts=attempts,
                at=self.clock(),
            ),
        )
        return written

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

    # -- characters -------------------------------------------------------------------------

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

    # -- invites and members ----------------------------------------------------------------

    def issue_invite(
        self,
        *,
        session_id: UUID,
        actor: str,
        role: str = roles.PLAYER,
        expires_in: timedelta | None = timedelta(days=7),
        max_uses: int | None = None,
    ) -> InviteCreated:
        invite_id = uuid4()
        token = tokens.new_invite_token(session_id)
        now = self.clock()
        expires_at = now + expires_in if expires_in is not None else None
        _, written = self._update(
            session_id,
            lambda s: s.issue_invite(
                actor=actor,
                invite_id=invite_id,
                token_sha256=tokens.token_sha256(token),
                role=role,
                expires_at=expires_at,
                max_uses=max_uses,
                at=now,
            ),
        )
        return InviteCreated(
            session_id,
            written.version,
            written.position,
            invite_id,
            token,
            role,
            expires_at,
            max_uses,
        )

    def revoke_invite(self, *, session_id: UUID, actor: str, invite_id: UUID) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.revoke_invite(actor=actor, invite_id=invite_id, at=self.clock()),
        )
        return written

    def accept_invite(self, *, token: str, user_id: str, display_name: str) -> Joined:
        session_id = tokens.session_of(token)
        if session_id is None:
            raise InviteInvalid("this invite link is not valid")
        digest = tokens.token_sha256(token)
        try:
            (role, joined), written = self._update(
                session_id,
                lambda s: s.accept_invite(
                    token_sha256=digest,
                    user_id=user_id,
                    display_name=display_name,
                    at=self.clock(),
                ),
            )
        except SessionNotFound:
            raise InviteInvalid("this invite link is not valid") from None
        return Joined(session_id, written.version, written.position, role, joined)

    def change_role(self, *, session_id: UUID, actor: str, user_id: str, role: str) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.change_role(actor=actor, user_id=user_id, role=role, at=self.clock()),
        )
        return written

    def remove_member(
        self, *, session_id: UUID, actor: str, user_id: str, block: bool = False
    ) -> Written:
        _, written = self._update(
            session_id,
            lambda s: s.remove_member(actor=actor, user_id=user_id, block=block, at=self.clock()),
        )
        return written

    # -- media and game state ---------------------------------------------------------------

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
