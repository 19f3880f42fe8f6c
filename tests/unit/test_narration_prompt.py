"""The chat messages built for a narration: roles, framing of each turn kind, and the budget."""

from collections.abc import Sequence

import pytest

from api.narration import HistoryEntry, NarrationRequest, build_messages
from api.narration.prompt import TRUNCATION_MARKER, system_prompt

BIG = 1_000_000


def a_request(
    history: Sequence[HistoryEntry] = (),
    *,
    turn_text: str = "I open the door.",
    turn_kind: str = "action",
    character_name: str | None = "Aria",
) -> NarrationRequest:
    return NarrationRequest(
        session_title="The Sunken Crown",
        settings={"game_style": "grim", "setting": "a drowned city"},
        history=history,
        turn_text=turn_text,
        turn_kind=turn_kind,
        character_name=character_name,
    )


def total_chars(messages: list[dict[str, str]]) -> int:
    return sum(len(message["content"]) for message in messages)


def test_system_prompt_comes_first_and_names_the_session_and_its_settings() -> None:
    first = build_messages(a_request(), BIG)[0]

    assert first["role"] == "system"
    assert "The Sunken Crown" in first["content"]
    assert "Game style: grim" in first["content"]
    assert "Setting: a drowned city" in first["content"]


def test_system_prompt_asks_for_the_json_reply_shape() -> None:
    prompt = system_prompt("Any", {})

    assert '"narrative"' in prompt
    assert '"player_options"' in prompt
    assert '"answer"' in prompt


def test_system_prompt_skips_empty_settings_and_renders_other_values_as_json() -> None:
    prompt = system_prompt("Any", {"setting": "", "house_rules": ["no resurrection"]})

    assert "Setting" not in prompt
    assert 'House rules: ["no resurrection"]' in prompt


def test_history_maps_roles_and_prefixes_players_with_their_author() -> None:
    history = [
        HistoryEntry("system", "Session started."),
        HistoryEntry("player", "I look around.", author="Aria"),
        HistoryEntry("narrator", "Water drips from the ceiling."),
        HistoryEntry("player", "Hello?"),
    ]

    messages = build_messages(a_request(history), BIG)

    assert messages[1:-1] == [
        {"role": "system", "content": "Session started."},
        {"role": "user", "content": "Aria: I look around."},
        {"role": "assistant", "content": "Water drips from the ceiling."},
        {"role": "user", "content": "Hello?"},
    ]


def test_action_turn_is_the_last_message_prefixed_with_the_character() -> None:
    last = build_messages(a_request(turn_text="I draw my sword."), BIG)[-1]

    assert last == {"role": "user", "content": "Aria: I draw my sword."}


def test_action_turn_without_a_character_is_sent_as_is() -> None:
    last = build_messages(a_request(character_name=None), BIG)[-1]

    assert last == {"role": "user", "content": "I open the door."}


def test_context_turn_is_framed_as_a_game_master_note() -> None:
    last = build_messages(a_request(turn_text="It is night.", turn_kind="context"), BIG)[-1]

    assert last["role"] == "user"
    assert last["content"].startswith("Game-master context note")
    assert last["content"].endswith("It is night.")


def test_ooc_turn_asks_for_a_brief_answer_without_advancing_the_story() -> None:
    last = build_messages(a_request(turn_text="How do I heal?", turn_kind="ooc"), BIG)[-1]

    assert last["content"].startswith("Out-of-character question from Aria")
    assert "do not advance the story" in last["content"]
    assert last["content"].endswith("How do I heal?")


def test_oldest_history_is_dropped_first_to_fit_the_budget() -> None:
    history = [HistoryEntry("narrator", f"entry {n:02d} " + "x" * 90) for n in range(20)]
    fixed = total_chars(build_messages(a_request(), BIG))

    messages = build_messages(a_request(history), fixed + 5 * 100)

    kept = [message["content"][:8] for message in messages[1:-1]]
    assert kept == [f"entry {n:02d}" for n in range(15, 20)]
    assert total_chars(messages) <= fixed + 5 * 100


def test_history_stops_at_the_first_entry_that_does_not_fit_leaving_no_gap() -> None:
    history = [
        HistoryEntry("narrator", "old and short"),
        HistoryEntry("narrator", "y" * 500),
        HistoryEntry("narrator", "newest"),
    ]
    fixed = total_chars(build_messages(a_request(), BIG))

    messages = build_messages(a_request(history), fixed + 100)

    assert [message["content"] for message in messages[1:-1]] == ["newest"]


def test_an_over_long_latest_entry_is_cut_keeping_its_end_behind_a_marker() -> None:
    history = [
        HistoryEntry("narrator", "earlier"),
        HistoryEntry("player", "a" * 300 + "THE END", author="Bo"),
    ]
    fixed = total_chars(build_messages(a_request(), BIG))

    messages = build_messages(a_request(history), fixed + 100)

    assert len(messages) == 3
    cut = messages[1]["content"]
    assert cut.startswith("Bo: " + TRUNCATION_MARKER)
    assert cut.endswith("THE END")
    assert len(cut) == 100


def test_system_prompt_and_turn_are_sent_whole_even_when_they_exceed_the_budget() -> None:
    request = a_request([HistoryEntry("narrator", "history")], turn_text="t" * 500)

    messages = build_messages(request, 10)

    assert [message["role"] for message in messages] == ["system", "user"]
    assert messages[-1]["content"].endswith("t" * 500)


def test_same_request_gives_the_same_messages() -> None:
    history = [HistoryEntry("player", "Hi", author="Aria")]

    assert build_messages(a_request(history), 5000) == build_messages(a_request(history), 5000)


def test_negative_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="budget_chars"):
        build_messages(a_request(), -1)


def test_unknown_history_role_is_refused() -> None:
    with pytest.raises(ValueError, match="history role"):
        HistoryEntry("bard", "La la la")


def test_unknown_turn_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="turn kind"):
        a_request(turn_kind="whisper")
