"""Reading model replies: the JSON shape, plain text, and the narrative pulled from a stream."""

import json

import pytest

from api.narration.reply import NarrativeStream, parse_reply

REPLY = {
    "narrative": 'The door creaks.\nA voice: "Who\'s there?" — café 😀 \\ end',
    "player_options": ["Answer", "Hide"],
    "answer": "",
    "mood": "tense",
}


def test_json_reply_gives_narrative_options_answer_and_the_object_verbatim() -> None:
    reply = parse_reply(json.dumps(REPLY))

    assert reply.narrative == REPLY["narrative"]
    assert reply.player_options == ["Answer", "Hide"]
    assert reply.answer == ""
    assert reply.structured == REPLY


def test_json_reply_inside_a_code_fence_is_read() -> None:
    reply = parse_reply("```json\n" + json.dumps(REPLY) + "\n```")

    assert reply.narrative == REPLY["narrative"]


def test_json_reply_with_raw_newlines_inside_strings_is_read() -> None:
    reply = parse_reply('{"narrative": "line one\nline two", "player_options": []}')

    assert reply.narrative == "line one\nline two"


def test_a_number_json_does_not_have_in_a_reply_is_kept_as_null() -> None:
    reply = parse_reply('{"narrative": "Dice roll", "roll": NaN, "odds": -Infinity}')

    assert reply.narrative == "Dice roll"
    assert reply.structured == {"narrative": "Dice roll", "roll": None, "odds": None}


def test_a_reply_nested_too_deeply_to_read_becomes_plain_text() -> None:
    deep = '{"narrative": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}"

    reply = parse_reply(deep)

    assert reply.structured == {}


def test_plain_text_reply_becomes_the_narrative_with_no_options() -> None:
    reply = parse_reply("  The rain stops.  \n")

    assert reply.narrative == "The rain stops."
    assert reply.player_options == []
    assert reply.structured == {}


def test_json_object_of_another_shape_keeps_the_text_as_narrative() -> None:
    text = '{"response": "The rain stops."}'

    reply = parse_reply(text)

    assert reply.narrative == text
    assert reply.structured == {"response": "The rain stops."}


def test_json_reply_cut_short_keeps_the_narrative_read_so_far() -> None:
    reply = parse_reply('{"narrative": "The bridge sways and')

    assert reply.narrative == "The bridge sways and"
    assert reply.structured == {}


def test_options_that_are_not_strings_are_left_out() -> None:
    reply = parse_reply('{"narrative": "n", "player_options": ["Run", 3, null, " ", " Hide "]}')

    assert reply.player_options == ["Run", "Hide"]


def feed_all(pieces: list[str]) -> str:
    stream = NarrativeStream()
    return "".join(stream.feed(piece) for piece in pieces)


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "unicode"])
def test_stream_yields_the_decoded_narrative_whatever_the_split(ensure_ascii: bool) -> None:
    text = json.dumps(REPLY, ensure_ascii=ensure_ascii)

    one_char_at_a_time = feed_all(list(text))
    in_threes = feed_all([text[i : i + 3] for i in range(0, len(text), 3)])

    assert one_char_at_a_time == REPLY["narrative"]
    assert in_threes == REPLY["narrative"]


def test_stream_yields_text_as_soon_as_it_is_readable() -> None:
    stream = NarrativeStream()

    assert stream.feed('{"narrative": "The do') == "The do"
    assert stream.feed('or opens", "player_options": ["Go"]}') == "or opens"


def test_stream_finds_the_narrative_after_other_keys_and_nested_values() -> None:
    text = json.dumps(
        {"player_options": ["a", "b"], "meta": {"narrative": "no"}, "narrative": "yes"}
    )

    assert feed_all(list(text)) == "yes"


def test_stream_of_an_answer_without_narrative_yields_nothing() -> None:
    assert feed_all(list(json.dumps({"narrative": "", "answer": "Roll a d20."}))) == ""


def test_stream_inside_a_code_fence_yields_the_narrative() -> None:
    text = "```json\n" + json.dumps(REPLY) + "\n```"

    assert feed_all(list(text)) == REPLY["narrative"]


def test_stream_of_plain_text_yields_the_text_from_its_first_visible_character() -> None:
    assert feed_all(["\n  The ", "rain ", "stops."]) == "The rain stops."


def test_stream_of_text_starting_with_backticks_but_no_fence_yields_the_text() -> None:
    assert feed_all(["`", "code` is what they call it"]) == "`code` is what they call it"
