"""A seeded random campaign played through the Sessions use cases: turns, narrations, failures,
retries, renames, invites, role changes, removals, media, game state and rewinds, with
non-ASCII text and floats in the data, up to an exact number of events."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

from domain.application import Sessions
from domain.session import CampaignSession

GM, ADA, SAM = "story-gm", "story-ada", "story-sam"


def start_story(sessions: Sessions, title: str = "Sälzweg ✦ the Salt Road") -> UUID:
    return sessions.start_session(owner=GM, owner_name="Gm", title=title).session_id


def narrated_story(
    sessions: Sessions,
    *,
    owner: str,
    owner_name: str,
    title: str,
    turns: int,
    text: Callable[[int], str],
    narrative: Callable[[int], str],
    options: Sequence[str] = (),
    save_every: int = 100,
) -> CampaignSession:
    """A new session of ``turns`` turns by ``owner``, each narrated at once, written through the
    aggregate and saved every ``save_every`` turns: far faster than a use case per command, for
    long stories. Returns the saved aggregate."""
    session = CampaignSession.start(
        session_id=uuid4(),
        title=title,
        owner=owner,
        owner_name=owner_name,
        settings={},
        origin={"kind": "new"},
        actor=owner,
        at=datetime.now(UTC),
    )
    for n in range(turns):
        turn_id, at = uuid4(), datetime.now(UTC)
        session.submit_turn(
            actor=owner,
            turn_id=turn_id,
            text=text(n),
            kind="action",
            character=None,
            idempotency_key=None,
            at=at,
        )
        session.complete_narration(
            turn_id=turn_id,
            narrative=narrative(n),
            answer="",
            player_options=list(options),
            structured={},
            provider="demo",
            model="demo",
            latency_ms=1,
            degraded=False,
            at=at,
        )
        if n % save_every == save_every - 1:
            sessions.save(session)
    sessions.save(session)
    return session


def play_story(sessions: Sessions, session_id: UUID, *, events: int, seed: int = 7) -> None:
    """Append commands until the stream holds exactly ``events`` events, none left pending."""
    _Story(sessions, session_id, seed).play(events)


class _Story:
    def __init__(self, sessions: Sessions, session_id: UUID, seed: int) -> None:
        self.sessions, self.session_id = sessions, session_id
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.turns: list[UUID] = []
        self.step = 0

    def version(self) -> int:
        return self.sessions.get(self.session_id).version

    def play(self, events: int) -> None:
        if self.version() < events - 3:
            self.join(ADA, "Ada", "player")
            self.join(SAM, "Sam Ø", "spectator")
        while (current := self.version()) < events:
            self.step += 1
            room = events - current  # every action below appends at most two events
            choice = self.rng.random() if room >= 3 else 1.0
            if choice < 0.55:
                self.turn()
            elif choice < 0.65 and self.turns:
                self.retry()
            elif choice < 0.70:
                self.rewind()
            elif choice < 0.75:
                self.sessions.rename(
                    session_id=self.session_id, actor=GM, title=f"The Salt Road, part {self.step}"
                )
            elif choice < 0.80:
                self.shuffle_sam()
            elif choice < 0.85:
                self.media()
            else:
                self.sessions.record_game_state(
                    session_id=self.session_id,
                    actor=None,
                    kind="scene",
                    key=f"scene-{self.step}",
                    data={"name": "Crypte inondée", "depth_m": 3.5, "step": self.step},
                )

    def join(self, user: str, name: str, role: str) -> None:
        invite = self.sessions.issue_invite(session_id=self.session_id, actor=GM, role=role)
        self.sessions.accept_invite(token=invite.token, user_id=user, display_name=name)

    def turn(self) -> None:
        text = f"I step forward, n°{self.step} ✓"
        turn = self.sessions.submit_turn(session_id=self.session_id, actor=ADA, text=text)
        self.turns.append(turn.turn_id)
        self.narrate(turn.turn_id)

    def retry(self) -> None:
        turn_id = self.rng.choice(self.turns)
        self.sessions.request_narration(session_id=self.session_id, actor=ADA, turn_id=turn_id)
        self.narrate(turn_id)

    def narrate(self, turn_id: UUID) -> None:
        if self.rng.random() < 0.2:
            self.sessions.fail_narration(
                session_id=self.session_id,
                turn_id=turn_id,
                error_kind="timeout",
                message="no answer — réessayez",
                attempts=self.rng.randint(1, 4),
            )
            return
        self.sessions.complete_narration(
            session_id=self.session_id,
            turn_id=turn_id,
            narrative=f"The lantern flickers ({self.step}) — « Ça bouge » 🜂",
            player_options=["Look", "Run"],
            structured={
                "mood": self.rng.random(),
                "tags": ["ü", self.step],
                "nested": {"b": 1, "a": None},
            },
            provider="demo",
            model="demo-1",
            latency_ms=self.rng.randint(1, 900),
        )

    def rewind(self) -> None:
        session = self.sessions.get(self.session_id)
        low = max(1, session.version - 12)
        candidates = [v for v in range(low, session.version) if session.is_quiet(v)]
        if not candidates:
            return
        to_version = self.rng.choice(candidates)
        self.sessions.rewind(session_id=self.session_id, actor=GM, to_version=to_version)
        # Turns the rewind took away cannot be retried any more.
        survivors = self.sessions.get(self.session_id).turns
        self.turns = [t for t in self.turns if str(t) in survivors]

    def shuffle_sam(self) -> None:
        """Sam changes role, leaves, or (re)joins."""
        role = self.rng.choice(["player", "spectator"])
        member = self.sessions.get(self.session_id).members.get(SAM)
        if member is None:
            self.join(SAM, "Sam Ø", role)
        elif member["role"] != role:
            self.sessions.change_role(session_id=self.session_id, actor=GM, user_id=SAM, role=role)
        else:
            self.sessions.remove_member(session_id=self.session_id, actor=GM, user_id=SAM)

    def media(self) -> None:
        digest = f"{self.step:064x}"
        self.sessions.record_media(
            session_id=self.session_id,
            actor=ADA,
            kind="image",
            content_type="image/png",
            size=self.rng.randint(1, 10_000),
            sha256=digest,
            storage_key=f"images/{digest}",
            filename=f"map-{self.step}.png",
            source="upload",
        )
