"""Campaign state under random play: character edits, narrations with structured state,
rewinds and forks. The per-session view caught up step by step equals one rebuilt from zero,
and at every version it equals the state of the aggregate replayed to that version."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Sessions
from domain.errors import GaiaError
from projections.session_views import SessionViews

OWNER, PLAYER = "user-owner", "user-player"

actors = st.sampled_from([OWNER, PLAYER])
structured = st.fixed_dictionaries(
    {},
    optional={
        "scene": st.sampled_from(["Cave", "Bridge", {"title": "Hall", "description": "Cold"}]),
        "environmental_conditions": st.sampled_from(["rain", "fog", ""]),
        "combat_status": st.sampled_from(
            [{}, {"orc": {"hp": "3/5"}}, {"orc": {"hp": "1/5"}, "Mira": {"hp": "9/9"}}]
        ),
        "turn_info": st.sampled_from(
            [
                {"round": 1, "is_combat": True},
                {"is_combat": False},
                {"round": 2, "initiative_order": ["orc", "Mira"]},
            ]
        ),
    },
)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("create"), actors, st.sampled_from(["pc", "npc"]), st.text("ab", max_size=3)
        ),
        st.tuples(st.just("change"), actors, st.integers(0, 5), st.integers(-5, 30)),
        st.tuples(st.just("retire"), actors, st.integers(0, 5), st.none()),
        st.tuples(st.just("narrate"), actors, st.integers(0, 5), structured),
        st.tuples(st.just("rewind"), st.just(OWNER), st.integers(0, 100), st.none()),
        st.tuples(st.just("fork"), actors, st.integers(0, 100), st.none()),
    ),
    max_size=14,
)


def _essence(state: dict[str, Any]) -> dict[str, Any]:
    """What a fork inherits: live characters without the versions they were written at."""
    versions = {"created_version", "updated_version"}
    return {
        "characters": {
            cid: {k: v for k, v in sheet.items() if k not in versions}
            for cid, sheet in state["characters"].items()
            if not sheet["retired"]
        },
        "scene": state["scene"],
        "combat": state["combat"],
    }


class Play:
    def __init__(self, sessions: Sessions, views: SessionViews) -> None:
        self.sessions, self.views = sessions, views
        self.sid = sessions.start_session(owner=OWNER, owner_name="Gm").session_id
        token = sessions.issue_invite(session_id=self.sid, actor=OWNER).token
        sessions.accept_invite(token=token, user_id=PLAYER, display_name="Ann")
        self.characters: list[str] = []
        self.all_sessions = [self.sid]

    def step(self, kind: str, actor: str, number: Any, value: Any) -> None:
        # A refused command writes nothing; the state must still agree.
        with contextlib.suppress(GaiaError):
            getattr(self, kind)(actor, number, value)
        self.views.get(self.sid)  # caught up step by step

    def _pick(self, index: int) -> str:
        return self.characters[index % len(self.characters)] if self.characters else "pc:none"

    def create(self, actor: str, kind: str, name: str) -> None:
        made = self.sessions.create_character(
            session_id=self.sid, actor=actor, sheet={"name": name or "X", "level": 1}, kind=kind
        )
        self.characters.append(made.character_id)

    def change(self, actor: str, index: int, hit_points: int) -> None:
        self.sessions.change_character(
            session_id=self.sid,
            actor=actor,
            character_id=self._pick(index),
            changes={"hit_points_current": hit_points, "status_effects": ["hurt"]},
        )

    def retire(self, actor: str, index: int, _: None) -> None:
        self.sessions.retire_character(
            session_id=self.sid, actor=actor, character_id=self._pick(index)
        )

    def narrate(self, actor: str, index: int, reply: dict[str, Any]) -> None:
        character = {"id": self._pick(index), "name": ""} if index % 2 else None
        try:
            turn = self.sessions.submit_turn(
                session_id=self.sid, actor=actor, text="I act", character=character
            )
        except GaiaError:
            turn = self.sessions.submit_turn(session_id=self.sid, actor=actor, text="I act")
        self.sessions.complete_narration(
            session_id=self.sid,
            turn_id=turn.turn_id,
            narrative="And then…",
            structured=reply,
            provider="test",
            model="m",
            latency_ms=1,
        )

    def rewind(self, actor: str, number: int, _: None) -> None:
        head = self.sessions.get(self.sid).version
        self.sessions.rewind(session_id=self.sid, actor=actor, to_version=1 + number % (head - 1))

    def fork(self, actor: str, number: int, _: None) -> None:
        head = self.sessions.get(self.sid).version
        at = 1 + number % head
        fork = self.sessions.fork(session_id=self.sid, actor=actor, actor_name="A", at_version=at)
        self.all_sessions.append(fork.session_id)
        inherited = self.sessions.get(fork.session_id).campaign_state()
        assert _essence(inherited) == _essence(
            self.sessions.get(self.sid, version=at).campaign_state()
        )


def _check(sessions: Sessions, views: SessionViews, sid: UUID) -> None:
    caught_up = views.get(sid)
    rebuilt = SessionViews(sessions).get(sid)
    assert caught_up.campaign.document() == rebuilt.campaign.document()
    assert caught_up.campaign.live() == sessions.get(sid).campaign_state()
    for version in range(1, caught_up.version + 1):
        at = views.get(sid, at_version=version).campaign.live()
        assert at == sessions.get(sid, version=version).campaign_state(), version


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps)
def test_the_campaign_view_equals_a_rebuild_and_the_replayed_aggregate_at_every_version(
    sessions: Sessions, plan: list[tuple[str, str, Any, Any]]
) -> None:
    sessions.snapshot_interval = 4  # snapshots and replays both in play
    views = SessionViews(sessions)
    play = Play(sessions, views)
    for step in plan:
        play.step(*step)
    for sid in play.all_sessions:
        _check(sessions, views, sid)
