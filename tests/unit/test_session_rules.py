"""Rules of the CampaignSession aggregate, checked on the aggregate alone (no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.errors import Forbidden, NotFound, RuleViolation
from domain.session import (
    IDEMPOTENCY_WINDOW,
    CampaignSession,
    IdempotencyKeyReused,
    InvalidRewind,
    InviteInvalid,
    NarrationInProgress,
    NotAMember,
    OwnerIsPermanent,
    RoleTooLow,
    TurnNotFound,
    TurnStatus,
    UserBlocked,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNER, PLAYER, SPECTATOR, STRANGER = "owner-1", "player-1", "spectator-1", "stranger-1"


def started() -> CampaignSession:
    return CampaignSession.start(
        session_id=uuid4(),
        title="The Salt Road",
        owner=OWNER,
        owner_name="Gm",
        settings={},
        origin={"kind": "new"},
        actor=OWNER,
        at=T0,
    )


def with_members() -> CampaignSession:
    session = started()
    session.add_member(user_id=PLAYER, display_name="Ada", role="player", at=T0)
    session.add_member(user_id=SPECTATOR, display_name="Sam", role="spectator", at=T0)
    return session


def submit(session: CampaignSession, text: str = "I open the door", **kw: object) -> UUID:
    turn_id = uuid4()
    args: dict[str, object] = {
        "actor": PLAYER,
        "turn_id": turn_id,
        "text": text,
        "kind": "action",
        "character": None,
        "idempotency_key": None,
        "at": T0,
    }
    args.update(kw)
    session.submit_turn(**args)  # type: ignore[arg-type]
    return turn_id


def narrate(session: CampaignSession, turn_id: UUID) -> None:
    session.complete_narration(
        turn_id=turn_id,
        narrative="The door creaks.",
        answer="",
        player_options=[],
        structured={},
        provider="demo",
        model="demo",
        latency_ms=1,
        degraded=False,
        at=T0,
    )


def fail(session: CampaignSession, turn_id: UUID) -> None:
    session.fail_narration(turn_id=turn_id, error_kind="timeout", message="slow", attempts=3, at=T0)


def invite(
    session: CampaignSession,
    *,
    role: str = "player",
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    digest: str = "h1",
) -> UUID:
    invite_id = uuid4()
    session.issue_invite(
        actor=OWNER,
        invite_id=invite_id,
        token_sha256=digest,
        role=role,
        expires_at=expires_at,
        max_uses=max_uses,
        at=T0,
    )
    return invite_id


# -- starting and renaming -------------------------------------------------------------------


def test_starting_a_session_makes_the_owner_its_only_member() -> None:
    session = started()
    assert session.version == 1
    assert session.owner == OWNER
    assert session.members == {OWNER: {"role": "owner", "display_name": "Gm"}}


def test_a_blank_title_is_refused() -> None:
    with pytest.raises(RuleViolation):
        CampaignSession.start(
            session_id=uuid4(),
            title="  ",
            owner=OWNER,
            owner_name="Gm",
            settings={},
            origin={"kind": "new"},
            actor=OWNER,
            at=T0,
        )


def test_only_the_owner_can_rename() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow):
        session.rename(actor=PLAYER, title="Mine now", at=T0)
    session.rename(actor=OWNER, title="  The Long Night ", at=T0)
    assert session.title == "The Long Night"


def test_renaming_to_the_same_title_records_nothing() -> None:
    session = started()
    session.rename(actor=OWNER, title="The Salt Road", at=T0)
    assert session.version == 1


# -- roles ------------------------------------------------------------------------------------


def test_a_non_member_is_told_the_session_does_not_exist() -> None:
    session = started()
    with pytest.raises(NotAMember) as caught:
        session.require(STRANGER, "spectator")
    assert isinstance(caught.value, NotFound)


def test_spectator_cannot_submit_a_turn() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow) as caught:
        submit(session, actor=SPECTATOR)
    assert isinstance(caught.value, Forbidden)


def test_stranger_cannot_submit_a_turn() -> None:
    with pytest.raises(NotAMember):
        submit(with_members(), actor=STRANGER)


# -- turns ------------------------------------------------------------------------------------


def test_a_submitted_turn_is_pending_until_narrated() -> None:
    session = with_members()
    turn_id = submit(session)
    assert session.turn_state(str(turn_id)) == TurnStatus.PENDING
    assert session.pending_turns() == [str(turn_id)]
    narrate(session, turn_id)
    assert session.turn_state(str(turn_id)) == TurnStatus.NARRATED
    assert session.pending_turns() == []


def test_pending_turns_come_in_submit_order() -> None:
    session = with_members()
    first, second, third = submit(session), submit(session), submit(session)
    narrate(session, first)
    assert session.pending_turns() == [str(second), str(third)]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_a_blank_turn_is_refused(text: str) -> None:
    session = with_members()
    with pytest.raises(RuleViolation):
        submit(session, text=text)
    assert session.version == 3


def test_an_unknown_turn_kind_is_refused() -> None:
    with pytest.raises(RuleViolation):
        submit(with_members(), kind="shout")


def test_a_repeated_idempotency_key_returns_the_first_turn_and_records_nothing() -> None:
    session = with_members()
    first = submit(session, idempotency_key="k-1")
    version = session.version
    again = session.submit_turn(
        actor=PLAYER,
        turn_id=uuid4(),
        text="I open the door",
        kind="action",
        character=None,
        idempotency_key="k-1",
        at=T0,
    )
    assert again == (str(first), version, True)
    assert session.version == version


def test_an_idempotency_key_reused_for_a_different_turn_is_refused() -> None:
    session = with_members()
    submit(session, idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        submit(session, text="something else", idempotency_key="k-1")


def test_idempotency_keys_belong_to_their_user() -> None:
    session = with_members()
    submit(session, idempotency_key="k-1")
    submit(session, idempotency_key="k-1", actor=OWNER)
    assert len(session.pending_turns()) == 2


def test_idempotency_keys_are_remembered_for_a_bounded_window() -> None:
    session = with_members()
    for n in range(IDEMPOTENCY_WINDOW + 5):
        submit(session, text=f"turn {n}", idempotency_key=f"k-{n}")
    assert len(session.idempotency) == IDEMPOTENCY_WINDOW
    assert f"{PLAYER}\nk-0" not in session.idempotency
    assert f"{PLAYER}\nk-{IDEMPOTENCY_WINDOW + 4}" in session.idempotency


def test_narrating_a_turn_that_is_not_pending_is_refused() -> None:
    session = with_members()
    turn_id = submit(session)
    narrate(session, turn_id)
    with pytest.raises(NarrationInProgress):
        narrate(session, turn_id)
    with pytest.raises(TurnNotFound):
        narrate(session, uuid4())


def test_a_failed_narration_leaves_the_turn_retryable() -> None:
    session = with_members()
    turn_id = submit(session)
    fail(session, turn_id)
    assert session.turn_state(str(turn_id)) == TurnStatus.FAILED
    session.request_narration(actor=PLAYER, turn_id=turn_id, at=T0)
    assert session.pending_turns() == [str(turn_id)]


def test_a_narrated_turn_can_be_narrated_again() -> None:
    session = with_members()
    turn_id = submit(session)
    narrate(session, turn_id)
    session.request_narration(actor=PLAYER, turn_id=turn_id, at=T0)
    assert session.turn_state(str(turn_id)) == TurnStatus.PENDING


def test_a_pending_turn_cannot_be_retried() -> None:
    session = with_members()
    turn_id = submit(session)
    with pytest.raises(NarrationInProgress):
        session.request_narration(actor=PLAYER, turn_id=turn_id, at=T0)


def test_a_spectator_cannot_retry_a_turn() -> None:
    session = with_members()
    turn_id = submit(session)
    fail(session, turn_id)
    with pytest.raises(RoleTooLow):
        session.request_narration(actor=SPECTATOR, turn_id=turn_id, at=T0)


# -- rewind -----------------------------------------------------------------------------------


def test_rewind_hides_later_versions_and_their_turns() -> None:
    session = with_members()  # versions 1..3
    first = submit(session)  # 4
    narrate(session, first)  # 5
    second = submit(session)  # 6
    narrate(session, second)  # 7
    session.rewind(actor=OWNER, to_version=5, at=T0)  # 8
    assert session.hidden == [[6, 7]]  # the rewind itself (8) stays visible
    assert not session.is_visible(6)
    assert session.is_visible(5)
    assert str(second) not in session.turns
    assert session.turn_state(str(first)) == TurnStatus.NARRATED


def test_rewind_to_a_version_where_a_turn_waited_is_refused() -> None:
    session = with_members()
    turn_id = submit(session)  # 4, pending
    narrate(session, turn_id)  # 5
    with pytest.raises(InvalidRewind):
        session.rewind(actor=OWNER, to_version=4, at=T0)


@pytest.mark.parametrize("to_version", [0, -1, 3, 99])
def test_rewind_needs_an_earlier_existing_version(to_version: int) -> None:
    session = with_members()  # version 3
    with pytest.raises(InvalidRewind):
        session.rewind(actor=OWNER, to_version=to_version, at=T0)


def test_rewind_to_a_hidden_version_is_refused() -> None:
    session = with_members()
    turn_id = submit(session)  # 4
    narrate(session, turn_id)  # 5
    session.rewind(actor=OWNER, to_version=3, at=T0)  # 6: hides 4 and 5
    session.rename(actor=OWNER, title="After", at=T0)  # 7
    with pytest.raises(InvalidRewind):
        session.rewind(actor=OWNER, to_version=5, at=T0)


def test_rewind_drops_hidden_pending_turns_and_reverts_retries() -> None:
    session = with_members()
    first = submit(session)  # 4
    narrate(session, first)  # 5
    session.request_narration(actor=PLAYER, turn_id=first, at=T0)  # 6: pending again
    later = submit(session)  # 7
    session.rewind(actor=OWNER, to_version=5, at=T0)
    assert session.pending_turns() == []
    assert session.turn_state(str(first)) == TurnStatus.NARRATED
    assert str(later) not in session.turns


def test_only_the_owner_can_rewind() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow):
        session.rewind(actor=PLAYER, to_version=1, at=T0)


def test_latest_quiet_version_skips_a_waiting_turn() -> None:
    session = with_members()
    submit(session)  # 4, pending
    assert session.latest_quiet_version() == 3


# -- invites and members ----------------------------------------------------------------------


def test_an_invite_keeps_only_the_token_hash() -> None:
    session = started()
    invite_id = invite(session, digest="ab" * 32)
    assert session.invites[str(invite_id)]["token_sha256"] == "ab" * 32


def test_only_the_owner_can_invite() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow):
        session.issue_invite(
            actor=PLAYER,
            invite_id=uuid4(),
            token_sha256="h",
            role="player",
            expires_at=None,
            max_uses=None,
            at=T0,
        )


@pytest.mark.parametrize("role", ["owner", "admin", ""])
def test_an_invite_cannot_grant_ownership_or_unknown_roles(role: str) -> None:
    with pytest.raises(RuleViolation):
        invite(started(), role=role)


def test_an_invite_needs_at_least_one_use_and_a_future_expiry() -> None:
    with pytest.raises(RuleViolation):
        invite(started(), max_uses=0)
    with pytest.raises(RuleViolation):
        invite(started(), expires_at=T0)


def test_accepting_an_invite_joins_with_its_role() -> None:
    session = started()
    invite(session, role="spectator")
    assert session.accept_invite(token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0) == (
        "spectator",
        True,
    )
    assert session.role_of(PLAYER) == "spectator"


def test_joining_twice_is_a_no_op() -> None:
    session = started()
    invite(session, max_uses=1)
    session.accept_invite(token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0)
    version = session.version
    assert session.accept_invite(token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0) == (
        "player",
        False,
    )
    assert session.version == version


def test_an_unknown_token_is_invalid() -> None:
    session = started()
    invite(session)
    with pytest.raises(InviteInvalid):
        session.accept_invite(token_sha256="nope", user_id=PLAYER, display_name="Ada", at=T0)


def test_an_expired_invite_is_invalid() -> None:
    session = started()
    invite(session, expires_at=T0 + timedelta(hours=1))
    with pytest.raises(InviteInvalid):
        session.accept_invite(
            token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0 + timedelta(hours=1)
        )


def test_a_revoked_invite_is_invalid() -> None:
    session = started()
    invite_id = invite(session)
    session.revoke_invite(actor=OWNER, invite_id=invite_id, at=T0)
    with pytest.raises(InviteInvalid):
        session.accept_invite(token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0)


def test_a_used_up_invite_is_invalid() -> None:
    session = started()
    invite(session, max_uses=2)
    session.accept_invite(token_sha256="h1", user_id="a", display_name="A", at=T0)
    session.accept_invite(token_sha256="h1", user_id="b", display_name="B", at=T0)
    with pytest.raises(InviteInvalid):
        session.accept_invite(token_sha256="h1", user_id="c", display_name="C", at=T0)


def test_a_blocked_user_cannot_rejoin_through_any_invite() -> None:
    session = with_members()
    session.remove_member(actor=OWNER, user_id=PLAYER, block=True, at=T0)
    invite(session, digest="fresh")
    with pytest.raises(UserBlocked):
        session.accept_invite(token_sha256="fresh", user_id=PLAYER, display_name="Ada", at=T0)


def test_a_removed_but_not_blocked_user_may_rejoin() -> None:
    session = with_members()
    session.remove_member(actor=OWNER, user_id=PLAYER, block=False, at=T0)
    assert session.role_of(PLAYER) is None
    invite(session)
    assert session.accept_invite(token_sha256="h1", user_id=PLAYER, display_name="Ada", at=T0) == (
        "player",
        True,
    )


def test_revoking_an_unknown_invite_is_not_found() -> None:
    with pytest.raises(NotFound):
        started().revoke_invite(actor=OWNER, invite_id=uuid4(), at=T0)


def test_the_owner_cannot_be_removed_or_demoted() -> None:
    session = with_members()
    with pytest.raises(OwnerIsPermanent):
        session.remove_member(actor=OWNER, user_id=OWNER, block=False, at=T0)
    with pytest.raises(OwnerIsPermanent):
        session.change_role(actor=OWNER, user_id=OWNER, role="spectator", at=T0)


def test_the_owner_changes_a_members_role() -> None:
    session = with_members()
    session.change_role(actor=OWNER, user_id=SPECTATOR, role="player", at=T0)
    assert session.role_of(SPECTATOR) == "player"


def test_a_player_cannot_change_roles_or_remove_others() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow):
        session.change_role(actor=PLAYER, user_id=SPECTATOR, role="player", at=T0)
    with pytest.raises(RoleTooLow):
        session.remove_member(actor=PLAYER, user_id=SPECTATOR, block=False, at=T0)


def test_a_member_may_leave() -> None:
    session = with_members()
    session.remove_member(actor=SPECTATOR, user_id=SPECTATOR, block=False, at=T0)
    assert session.role_of(SPECTATOR) is None
    assert SPECTATOR not in session.blocked


def test_an_ownerless_session_can_be_given_an_owner_once() -> None:
    session = CampaignSession.start(
        session_id=uuid4(),
        title="Old",
        owner=None,
        owner_name=None,
        settings={},
        origin={"kind": "legacy"},
        actor=None,
        at=None,
    )
    session.add_member(user_id=PLAYER, display_name="Ada", role="owner", at=None)
    assert session.owner == PLAYER
    with pytest.raises(OwnerIsPermanent):
        session.add_member(user_id=OWNER, display_name="Gm", role="owner", at=None)


# -- media, game state, artifacts -------------------------------------------------------------


def test_media_must_be_an_image_or_audio() -> None:
    session = with_members()
    with pytest.raises(RuleViolation):
        session.record_media(
            actor=PLAYER,
            media_id=uuid4(),
            kind="video",
            content_type="v/x",
            size=1,
            sha256="0" * 64,
            storage_key="k",
            filename="f",
            turn_id=None,
            source="upload",
            at=T0,
        )


def test_a_spectator_cannot_upload_media() -> None:
    session = with_members()
    with pytest.raises(RoleTooLow):
        session.record_media(
            actor=SPECTATOR,
            media_id=uuid4(),
            kind="image",
            content_type="image/png",
            size=1,
            sha256="0" * 64,
            storage_key="k",
            filename="f.png",
            turn_id=None,
            source="upload",
            at=T0,
        )


def test_generated_media_is_linked_to_a_known_turn() -> None:
    session = with_members()
    with pytest.raises(TurnNotFound):
        session.record_media(
            actor=None,
            media_id=uuid4(),
            kind="image",
            content_type="image/png",
            size=1,
            sha256="0" * 64,
            storage_key="k",
            filename="f.png",
            turn_id=uuid4(),
            source="generated",
            at=T0,
        )
    turn_id = submit(session)
    session.record_media(
        actor=None,
        media_id=uuid4(),
        kind="image",
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        storage_key="k",
        filename="f.png",
        turn_id=turn_id,
        source="generated",
        at=T0,
    )
    assert session.version == 5


def test_game_state_needs_a_known_kind() -> None:
    session = with_members()
    with pytest.raises(RuleViolation):
        session.record_game_state(actor=None, kind="weather", key="k", data={}, at=T0)
    session.record_game_state(actor=None, kind="character", key="pc:ada", data={"hp": 3}, at=T0)
    assert session.version == 4


def test_a_legacy_artifact_needs_its_path() -> None:
    session = started()
    with pytest.raises(RuleViolation):
        session.preserve_artifact(path="", sha256="0" * 64, content="x", at=None)
    session.preserve_artifact(path="data/notes.txt", sha256="0" * 64, content="x", at=None)
    assert session.version == 2


def test_a_version_one_snapshot_is_read_through_the_aggregate_upcaster() -> None:
    session = with_members()
    first = submit(session)
    narrate(session, first)
    session.collect_events()  # as after a save
    current = CampaignSession.Snapshot.take(session)
    old_state = dict(current.state)
    old_state.pop("class_version")
    old_state.pop("waiting")  # version 1 had no separate record of waiting turns
    old_state["turns"] = {
        str(first): [[4, TurnStatus.PENDING], [5, TurnStatus.NARRATED]]
    }  # the version 1 shape
    old = CampaignSession.Snapshot(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        timestamp=current.timestamp,
        topic=current.topic,
        state=old_state,
    )
    restored = old.mutate(None)
    assert restored.turns == {str(first): "4:pending;5:narrated"}
    assert vars(restored) == vars(session)
