"""The offline demo narrator: deterministic, labelled, derived from the action, streamed."""

import pytest

from api.narration import DemoNarrator, HistoryEntry, NarrationRequest
from api.narration.demo import LABEL


def a_request(
    turn_text: str = "I open the rusty door.", *, turn_kind: str = "action"
) -> NarrationRequest:
    return NarrationRequest(
        session_title="The Sunken Crown",
        settings={"setting": "a drowned city"},
        history=[HistoryEntry("narrator", "Water drips.")],
        turn_text=turn_text,
        turn_kind=turn_kind,
        character_name="Aria",
    )


@pytest.mark.asyncio
async def test_same_request_gives_the_same_narration() -> None:
    first = await DemoNarrator().narrate(a_request())
    second = await DemoNarrator().narrate(a_request())

    assert first == second


@pytest.mark.asyncio
async def test_narration_is_labelled_as_the_demo() -> None:
    narration = await DemoNarrator().narrate(a_request())

    assert narration.narrative.startswith(LABEL)
    assert (narration.provider, narration.model) == ("demo", "demo-1")


@pytest.mark.asyncio
async def test_narrative_echoes_the_action_and_the_character() -> None:
    narration = await DemoNarrator().narrate(a_request("I whistle at the gargoyle"))

    assert "I whistle at the gargoyle" in narration.narrative
    assert "Aria" in narration.narrative


@pytest.mark.asyncio
async def test_different_actions_give_different_narratives() -> None:
    one = await DemoNarrator().narrate(a_request("I climb the tower."))
    other = await DemoNarrator().narrate(a_request("I dive into the canal."))

    assert one.narrative != other.narrative


@pytest.mark.asyncio
async def test_long_action_is_echoed_shortened() -> None:
    narration = await DemoNarrator().narrate(a_request("I run " * 100))

    assert "…" in narration.narrative
    assert len(narration.narrative) < 400


@pytest.mark.asyncio
async def test_action_offers_two_or_three_distinct_options() -> None:
    narration = await DemoNarrator().narrate(a_request())

    assert 2 <= len(narration.player_options) <= 3
    assert len(set(narration.player_options)) == len(narration.player_options)


@pytest.mark.asyncio
async def test_structured_mirrors_the_reply_shape_asked_of_real_models() -> None:
    narration = await DemoNarrator().narrate(a_request())

    assert narration.structured == {
        "narrative": narration.narrative,
        "player_options": narration.player_options,
        "answer": "",
    }


@pytest.mark.asyncio
async def test_narrative_streams_in_a_few_pieces_that_join_to_it() -> None:
    deltas: list[str] = []

    async def collect(piece: str) -> None:
        deltas.append(piece)

    narration = await DemoNarrator().narrate(a_request(), on_delta=collect)

    assert 2 <= len(deltas) <= 5
    assert "".join(deltas) == narration.narrative


@pytest.mark.asyncio
async def test_context_turn_is_acknowledged_as_a_note() -> None:
    narration = await DemoNarrator().narrate(a_request("It is winter.", turn_kind="context"))

    assert narration.narrative.startswith(LABEL)
    assert "It is winter" in narration.narrative


@pytest.mark.asyncio
async def test_ooc_question_gets_a_labelled_answer_and_no_narrative() -> None:
    deltas: list[str] = []

    async def collect(piece: str) -> None:
        deltas.append(piece)

    narration = await DemoNarrator().narrate(
        a_request("How do I level up?", turn_kind="ooc"), on_delta=collect
    )

    assert narration.narrative == ""
    assert narration.answer.startswith(LABEL)
    assert narration.player_options == []
    assert deltas == []
