"""Campaign-state rules without a store: character sheets, what a structured reply changes
in the world, and how the narrator's prompt carries the party, scene and combat."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from api.narration import NarrationRequest, build_messages
from domain.campaign import InvalidCharacter, check_sheet, world_changes
from domain.inputs import InvalidText

PARTY = [
    {
        "name": "Kara",
        "character_class": "ranger",
        "level": 3,
        "hit_points_current": 8,
        "hit_points_max": 12,
        "kind": "pc",
    },
    {"name": "Old Tom", "kind": "npc"},
]


def a_request(**fields: Any) -> NarrationRequest:
    base = NarrationRequest(
        session_title="Salt Road",
        settings={},
        history=[],
        turn_text="I wait.",
        turn_kind="action",
        character_name="Kara",
    )
    return replace(base, **fields)


@pytest.mark.parametrize(
    ("sheet", "field"),
    [
        ({"name": "A", "hit_points_current": "12"}, "hit_points_current"),
        ({"name": "A", "level": True}, "level"),
        ({"name": "A", "level": -1}, "level"),
        ({"name": "A", "inventory": "rope"}, "inventory"),
        ({"name": "A", "status_effects": [""]}, "status_effects"),
        ({"name": "  "}, "name"),
        ({"name": "A", "colour": "red"}, "colour"),
    ],
)
def test_a_sheet_breaking_a_rule_is_refused_naming_the_field(
    sheet: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidCharacter) as refused:
        check_sheet(sheet, creating=True)
    assert refused.value.details["field"] == field


def test_a_control_character_in_a_sheet_is_invalid_text() -> None:
    with pytest.raises(InvalidText):
        check_sheet({"name": "Ka\x00ra"}, creating=True)


def test_a_change_may_clear_fields_but_not_the_name() -> None:
    check_sheet({"race": None, "inventory": None}, creating=False)
    with pytest.raises(InvalidCharacter):
        check_sheet({"name": None}, creating=False)


def test_a_reply_naming_a_new_scene_enters_it_with_its_conditions() -> None:
    changes = world_changes({"scene": "The ford", "environmental_conditions": "rain"}, None, None)
    assert changes == [("scene", {"title": "The ford", "environmental_conditions": "rain"})]


def test_a_reply_repeating_the_scene_changes_nothing() -> None:
    assert world_changes({"scene": {"title": "Ford"}}, {"title": "Ford"}, None) == []


def test_combat_starts_updates_and_ends_with_the_reply() -> None:
    fight = {"combat_status": {"orc": {"hp": "3/5"}}, "turn_info": {"round": 1}}
    started = world_changes(fight, None, None)
    assert started == [("combat_started", {"combatants": {"orc": {"hp": "3/5"}}, "round": 1})]
    combat = started[0][1]
    hurt = {"combat_status": {"orc": {"hp": "1/5"}}, "turn_info": {"round": 2}}
    assert world_changes(hurt, None, combat)[0][0] == "combat_updated"
    assert world_changes({"combat_status": {}}, None, combat) == [("combat_ended", None)]
    assert world_changes({"turn_info": {"is_combat": False}}, None, combat) == [
        ("combat_ended", None)
    ]


def test_a_reply_silent_about_the_world_changes_nothing() -> None:
    assert world_changes({"narrative": "x", "player_options": []}, {"title": "A"}, {"x": 1}) == []


def test_a_scene_too_deep_to_store_is_left_out() -> None:
    deep: dict[str, Any] = {}
    for _ in range(100):
        deep = {"x": deep}
    assert world_changes({"scene": deep}, None, None) == []


def test_the_prompt_gives_the_narrator_the_scene_combat_and_party() -> None:
    request = a_request(party=PARTY, scene={"title": "Waystation"}, combat={"round": 2})
    system = build_messages(request, 100_000)[0]["content"]
    assert "Current scene: " in system
    assert "Waystation" in system
    assert 'Combat in progress: {"round": 2}' in system
    assert "- Kara (ranger; level 3; hit points 8/12)" in system
    assert "- Old Tom (NPC)" in system


def test_the_campaign_state_keeps_within_the_prompt_budget() -> None:
    party = [{"name": f"Hero {n}", "level": n} for n in range(500)]
    plain = build_messages(a_request(), 0)
    budget = sum(len(m["content"]) for m in plain) + 400
    messages = build_messages(a_request(party=party, scene={"title": "Hall"}), budget)
    assert sum(len(m["content"]) for m in messages) <= budget
    assert "Hall" in messages[0]["content"]
    assert "Hero 499" not in messages[0]["content"]


def test_no_campaign_state_leaves_the_prompt_as_it_was() -> None:
    assert "Campaign state" not in build_messages(a_request(), 100_000)[0]["content"]


def test_a_long_scene_is_cut_and_leaves_room_for_the_party() -> None:
    scene = {"title": "Hall", "description": "dust " * 5000}
    plain = build_messages(a_request(), 0)
    budget = sum(len(m["content"]) for m in plain) + 2000
    system = build_messages(a_request(party=PARTY, scene=scene), budget)[0]["content"]
    assert "Current scene: " in system
    assert "- Kara (" in system
