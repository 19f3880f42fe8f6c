"""The OpenAI-compatible narrator against a real HTTP server on loopback (tests/support/fake_llm).

Retries normally go through a recording sleep, so they are instant; one test waits for real
to show that ``Retry-After`` is honoured on the wire.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from api.narration import HistoryEntry, NarrationFailed, NarrationRequest
from api.narration.openai_compat import OpenAICompatNarrator
from tests.support.fake_llm import Answer, FakeLLM, Raw, Status

API_KEY = "sk-test-key-0123456789"
NARRATIVE = 'The door groans open. Beyond it, a stair leads down into "the dark".'
REPLY = json.dumps(
    {"narrative": NARRATIVE, "player_options": ["Go down", "Close the door"], "answer": ""}
)
# The reply split into stream chunks that cut through keys, values and escapes.
REPLY_PIECES = [REPLY[i : i + 7] for i in range(0, len(REPLY), 7)]

MakeNarrator = Callable[..., OpenAICompatNarrator]


class RecordingSleep:
    """Stands in for asyncio.sleep: records each backoff and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class Deltas:
    """A DeltaSink that keeps what it received."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, piece: str) -> None:
        self.pieces.append(piece)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest_asyncio.fixture
async def make_narrator(fake_llm: FakeLLM, sleeps: RecordingSleep) -> AsyncIterator[MakeNarrator]:
    made: list[OpenAICompatNarrator] = []

    def make(**overrides: Any) -> OpenAICompatNarrator:
        options: dict[str, Any] = {
            "base_url": fake_llm.base_url,
            "api_key": API_KEY,
            "model": "test-model",
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "sleep": sleeps,
        }
        options.update(overrides)
        narrator = OpenAICompatNarrator(
            options.pop("base_url"), options.pop("api_key"), options.pop("model"), **options
        )
        made.append(narrator)
        return narrator

    yield make
    for narrator in made:
        await narrator.aclose()


def a_request(history: list[HistoryEntry] | None = None) -> NarrationRequest:
    return NarrationRequest(
        session_title="The Sunken Crown",
        settings={"game_style": "grim", "setting": "a drowned city"},
        history=history or [HistoryEntry("narrator", "You stand before a door.")],
        turn_text="I open the door.",
        turn_kind="action",
        character_name="Aria",
    )


# -- answers


@pytest.mark.asyncio
async def test_json_answer_becomes_the_narration(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer(REPLY))

    narration = await make_narrator(stream=False).narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert narration.player_options == ["Go down", "Close the door"]
    assert narration.answer == ""
    assert narration.structured == json.loads(REPLY)
    assert (narration.provider, narration.model) == ("openai-compatible", "fake-model")
    assert fake_llm.requests[0].json["stream"] is False


@pytest.mark.asyncio
async def test_streamed_answer_forwards_narrative_deltas_in_order(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer(REPLY, pieces=REPLY_PIECES))
    deltas = Deltas()

    narration = await make_narrator().narrate(a_request(), on_delta=deltas)

    assert narration.narrative == NARRATIVE
    assert len(deltas.pieces) > 3
    assert "".join(deltas.pieces) == NARRATIVE
    assert fake_llm.requests[0].json["stream"] is True


@pytest.mark.asyncio
async def test_deltas_reach_the_sink_before_the_stream_ends(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    # The server holds the rest of the stream until the first delta arrives: a client that
    # waited for the whole body before forwarding anything would time out instead.
    first_delta_seen = threading.Event()
    fake_llm.queue(Answer(REPLY, pieces=REPLY_PIECES, release=first_delta_seen, hold_after=4))

    async def sink(piece: str) -> None:
        first_delta_seen.set()

    narration = await make_narrator(read_timeout=2.0, max_attempts=1).narrate(a_request(), sink)

    assert narration.narrative == NARRATIVE


@pytest.mark.asyncio
async def test_plain_text_answer_becomes_the_narrative_without_options(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer("The stair is slick with algae."))
    deltas = Deltas()

    narration = await make_narrator().narrate(a_request(), on_delta=deltas)

    assert narration.narrative == "The stair is slick with algae."
    assert narration.player_options == []
    assert narration.structured == {}
    assert "".join(deltas.pieces) == narration.narrative


@pytest.mark.asyncio
async def test_json_answer_to_a_streaming_request_is_accepted_and_sent_as_one_delta(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer(REPLY, stream=False))
    deltas = Deltas()

    narration = await make_narrator(stream=True).narrate(a_request(), on_delta=deltas)

    assert narration.narrative == NARRATIVE
    assert deltas.pieces == [NARRATIVE]


@pytest.mark.asyncio
async def test_out_of_character_answer_has_an_answer_and_no_narrative(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer(json.dumps({"narrative": "", "answer": "Roll a d20."})))

    narration = await make_narrator().narrate(a_request())

    assert (narration.narrative, narration.answer) == ("", "Roll a d20.")


# -- what is sent


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
@pytest.mark.asyncio
async def test_base_url_with_or_without_v1_reaches_chat_completions(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, suffix: str
) -> None:
    await make_narrator(base_url=fake_llm.base_url + suffix).narrate(a_request())

    assert fake_llm.requests[0].path == "/v1/chat/completions"


@pytest.mark.asyncio
async def test_api_key_is_sent_as_a_bearer_token(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    await make_narrator().narrate(a_request())

    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


@pytest.mark.asyncio
async def test_no_authorization_header_is_sent_without_an_api_key(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    await make_narrator(api_key=None).narrate(a_request())

    assert "authorization" not in fake_llm.requests[0].headers


@pytest.mark.asyncio
async def test_request_names_the_model_and_carries_the_prompt(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    await make_narrator().narrate(a_request())

    body = fake_llm.requests[0].json
    assert body["model"] == "test-model"
    assert body["messages"][0]["role"] == "system"
    assert "The Sunken Crown" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "Aria: I open the door."}


@pytest.mark.asyncio
async def test_prompt_sent_keeps_the_recent_history_within_the_budget(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    history = [HistoryEntry("narrator", f"Event {n:03d}. " + "~" * 200) for n in range(200)]

    await make_narrator(prompt_budget_chars=4000).narrate(a_request(history))

    messages = fake_llm.requests[0].json["messages"]
    sent = "\n".join(message["content"] for message in messages)
    assert sum(len(message["content"]) for message in messages) <= 4000
    assert "Event 199." in sent
    assert "Event 190." in sent
    assert "Event 000." not in sent


# -- retries


@pytest.mark.asyncio
async def test_slow_server_times_out_and_the_retry_succeeds(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    fake_llm.queue(Answer(REPLY, delay_s=1.0), Answer(REPLY))

    narration = await make_narrator(read_timeout=0.3).narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2
    assert len(sleeps.delays) == 1


@pytest.mark.asyncio
async def test_stream_stalling_between_chunks_times_out_and_is_retried(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Answer(REPLY, pieces=REPLY_PIECES, chunk_delay_s=1.0), Answer(REPLY))

    narration = await make_narrator(read_timeout=0.3).narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
async def test_always_slow_server_fails_as_timeout_after_every_attempt(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Answer(REPLY, delay_s=1.0))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(read_timeout=0.3, max_attempts=2).narrate(a_request())

    assert failure.value.error_kind == "timeout"
    assert failure.value.attempts == 2
    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
async def test_rate_limited_request_waits_for_retry_after_then_succeeds(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    fake_llm.queue(Status(429, retry_after="3"), Answer(REPLY))

    narration = await make_narrator().narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert sleeps.delays == [3.0]
    assert len(fake_llm.requests) == 2


@pytest.mark.slow
@pytest.mark.asyncio
async def test_retry_after_is_honoured_on_the_wire(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Status(429, retry_after="1"), Answer(REPLY))

    await make_narrator(sleep=asyncio.sleep).narrate(a_request())

    first, second = fake_llm.requests
    # 0.95, not 1.0: the event loop may wake a clock tick early.
    assert second.received_at - first.received_at >= 0.95


@pytest.mark.asyncio
async def test_retry_after_as_an_http_date_is_honoured(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    fake_llm.queue(
        Status(503, retry_after=email.utils.format_datetime(when, usegmt=True)), Answer(REPLY)
    )

    await make_narrator().narrate(a_request())

    [delay] = sleeps.delays
    assert 17 < delay <= 20


@pytest.mark.asyncio
async def test_retry_after_is_capped_at_four_backoff_caps(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    fake_llm.queue(Status(429, retry_after="3600"), Answer(REPLY))

    await make_narrator(backoff_cap_s=8).narrate(a_request())

    assert sleeps.delays == [32.0]


@pytest.mark.asyncio
async def test_server_error_is_retried_and_the_retry_succeeds(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Status(500), Answer(REPLY))

    narration = await make_narrator().narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("status", [408, 409, 502, 503])
@pytest.mark.asyncio
async def test_transient_statuses_are_retried(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, status: int
) -> None:
    fake_llm.queue(Status(status), Answer(REPLY))

    await make_narrator().narrate(a_request())

    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
async def test_persistent_server_error_fails_after_max_attempts(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Status(500, message="upstream exploded"))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(max_attempts=4).narrate(a_request())

    assert failure.value.error_kind == "server_error"
    assert failure.value.attempts == 4
    assert failure.value.status_code == 500
    assert "upstream exploded" in failure.value.message
    assert len(fake_llm.requests) == 4


@pytest.mark.asyncio
async def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    fake_llm.always(Status(500))

    with pytest.raises(NarrationFailed):
        await make_narrator(max_attempts=5, backoff_base_s=1, backoff_cap_s=3).narrate(a_request())

    steps = [1, 2, 3, 3]  # base * 2**n, capped
    assert len(sleeps.delays) == len(steps)
    for delay, step in zip(sleeps.delays, steps, strict=True):
        assert step / 2 <= delay <= step


@pytest.mark.asyncio
async def test_rate_limit_failure_after_the_last_attempt_is_rate_limited(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Status(429, retry_after="1"))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(max_attempts=3).narrate(a_request())

    assert (failure.value.error_kind, failure.value.attempts) == ("rate_limited", 3)


@pytest.mark.asyncio
async def test_malformed_json_is_retried_then_fails_as_bad_response(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Raw(b'{"choices": [{"message": '))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(stream=False, max_attempts=3).narrate(a_request())

    assert failure.value.error_kind == "bad_response"
    assert failure.value.attempts == 3
    assert len(fake_llm.requests) == 3


@pytest.mark.asyncio
async def test_malformed_json_then_a_good_answer_succeeds(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(Raw(b"<html>gateway</html>", content_type="text/html"), Answer(REPLY))

    narration = await make_narrator().narrate(a_request())

    assert narration.narrative == NARRATIVE


@pytest.mark.asyncio
async def test_empty_answer_fails_as_bad_response(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Answer("   "))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(max_attempts=2).narrate(a_request())

    assert failure.value.error_kind == "bad_response"


@pytest.mark.asyncio
async def test_stream_dropped_midway_is_restarted_and_succeeds(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.queue(
        Answer(REPLY, pieces=REPLY_PIECES, drop_after=8), Answer(REPLY, pieces=REPLY_PIECES)
    )
    deltas = Deltas()

    narration = await make_narrator().narrate(a_request(), on_delta=deltas)

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2
    # The restart streams the narrative again from its start, after what the drop cut off.
    sent = "".join(deltas.pieces)
    assert sent.endswith(NARRATIVE)
    assert NARRATIVE.startswith(sent.removesuffix(NARRATIVE))


@pytest.mark.asyncio
async def test_stream_dropped_every_time_fails_as_connection(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    fake_llm.always(Answer(REPLY, pieces=REPLY_PIECES, drop_after=3))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(max_attempts=2).narrate(a_request())

    assert (failure.value.error_kind, failure.value.attempts) == ("connection", 2)


@pytest.mark.asyncio
async def test_stream_ending_without_done_is_retried(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    unfinished = b'data: {"choices": [{"delta": {"content": "The door"}}]}\n\n'
    fake_llm.queue(Raw(unfinished, content_type="text/event-stream"), Answer(REPLY))

    narration = await make_narrator().narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
async def test_error_event_inside_a_stream_is_retried(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    error_event = b'data: {"error": {"message": "overloaded"}}\n\n'
    fake_llm.queue(Raw(error_event, content_type="text/event-stream"), Answer(REPLY))

    narration = await make_narrator().narrate(a_request())

    assert narration.narrative == NARRATIVE
    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
async def test_refused_connection_is_retried_then_fails_as_connection(
    make_narrator: MakeNarrator, sleeps: RecordingSleep
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator(base_url=f"http://127.0.0.1:{port}", max_attempts=3).narrate(
            a_request()
        )

    assert (failure.value.error_kind, failure.value.attempts) == ("connection", 3)
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 422])
@pytest.mark.asyncio
async def test_client_errors_are_not_retried(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, sleeps: RecordingSleep, status: int
) -> None:
    fake_llm.always(Status(status, message="model not found"))

    with pytest.raises(NarrationFailed) as failure:
        await make_narrator().narrate(a_request())

    assert failure.value.error_kind == "rejected"
    assert failure.value.attempts == 1
    assert failure.value.status_code == status
    assert "model not found" in failure.value.message
    assert len(fake_llm.requests) == 1
    assert sleeps.delays == []


# -- hygiene


@pytest.mark.asyncio
async def test_api_key_appears_in_no_log_error_or_repr(
    fake_llm: FakeLLM, make_narrator: MakeNarrator, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.always(Status(500))
    narrator = make_narrator(max_attempts=2)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(NarrationFailed) as failure:
        await narrator.narrate(a_request())

    assert caplog.records  # the retry was logged
    assert API_KEY not in caplog.text
    assert API_KEY not in str(failure.value)
    assert API_KEY not in repr(narrator)


@pytest.mark.asyncio
async def test_a_client_handed_in_is_left_open(
    fake_llm: FakeLLM, make_narrator: MakeNarrator
) -> None:
    async with httpx.AsyncClient() as client:
        narrator = make_narrator(http=client)
        await narrator.narrate(a_request())
        await narrator.aclose()

        assert not client.is_closed


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        OpenAICompatNarrator("ftp://models.example", None, "m")
