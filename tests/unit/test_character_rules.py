"""The CampaignSession's character rules: who creates and changes which character, and how an
older snapshot without campaign state is read."""

from __future__ import annotations

import pytest

from domain.campaign import CharacterExists, CharacterRetired, NotYourCharacter
from domain.errors import Forbidden
from domain.session import CampaignSession
from tests.unit.test_session_rules import OWNER, PLAYER, SPECTATOR, T0, with_members


def with_character(owner: str = PLAYER, kind: str = "pc") -> CampaignSession:
    session = with_members()
    session.create_character(
        actor=owner, character_id="pc:mira", kind=kind, sheet={"name": "Mira"}, at=T0
    )
    return session


def test_a_player_may_not_add_an_npc() -> None:
    session = with_members()
    with pytest.raises(Forbidden):
        session.create_character(
            actor=PLAYER, character_id="npc:tom", kind="npc", sheet={"name": "Tom"}, at=T0
        )


def test_a_spectator_may_not_create_a_character() -> None:
    session = with_members()
    with pytest.raises(Forbidden):
        session.create_character(
            actor=SPECTATOR, character_id="pc:x", kind="pc", sheet={"name": "X"}, at=T0
        )


def test_a_character_id_is_taken_once() -> None:
    session = with_character()
    with pytest.raises(CharacterExists):
        session.create_character(
            actor=OWNER, character_id="pc:mira", kind="pc", sheet={"name": "Other"}, at=T0
        )


def test_the_owner_may_change_a_players_character_but_not_the_reverse() -> None:
    session = with_character(PLAYER)
    session.change_character(actor=OWNER, character_id="pc:mira", changes={"level": 2}, at=T0)
    assert session.campaign_state()["characters"]["pc:mira"]["level"] == 2
    theirs = with_character(OWNER)
    with pytest.raises(NotYourCharacter):
        theirs.change_character(actor=PLAYER, character_id="pc:mira", changes={"level": 2}, at=T0)


def test_a_change_to_nothing_new_records_nothing() -> None:
    session = with_character()
    before = session.version
    session.change_character(actor=PLAYER, character_id="pc:mira", changes={"name": "Mira"}, at=T0)
    assert session.version == before


def test_a_retired_character_cannot_be_changed() -> None:
    session = with_character()
    session.retire_character(actor=PLAYER, character_id="pc:mira", at=T0)
    with pytest.raises(CharacterRetired):
        session.change_character(actor=OWNER, character_id="pc:mira", changes={"level": 2}, at=T0)


def test_a_version_three_snapshot_is_read_with_no_campaign_state() -> None:
    session = with_members()
    session.collect_events()  # as after a save
    current = CampaignSession.Snapshot.take(session)
    old_state = dict(current.state)
    old_state["class_version"] = 3
    old_state.pop("campaign")  # version 3 kept no campaign state
    old = CampaignSession.Snapshot(
        originator_id=current.originator_id,
        originator_version=current.originator_version,
        timestamp=current.timestamp,
        topic=current.topic,
        state=old_state,
    )
    restored = old.mutate(None)
    assert restored.campaign_state() == {"characters": {}, "scene": None, "combat": None}
