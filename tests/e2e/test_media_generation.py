"""Generated media: after a narration, fake image and speech providers on loopback make a picture
and a voice-over stored on the turn; when one fails or times out, the narration still stands and
the failure is in the timeline."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from tests.e2e.conftest import PLAYER, seat_table
from tests.support.api import Service, running
from tests.support.fake_llm import Exchange, FakeLLM, Raw, Status
from tests.support.media import MP3, PNG, SCRIPT, MediaBackend
from tests.support.stores import StoreConfig


def image_answer(data: bytes) -> Raw:
    body = {"created": 0, "data": [{"b64_json": base64.b64encode(data).decode()}]}
    return Raw(json.dumps(body).encode())


@dataclass(frozen=True)
class Silent:
    """Never answers: holds the request until the fake server stops."""

    def send(self, exchange: Exchange) -> None:
        exchange.pause(60)


@dataclass
class Providers:
    image: FakeLLM
    speech: FakeLLM

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "image_base_url": self.image.base_url,
            "image_api_key": "image-key",
            "image_model": "fake-image",
            "speech_base_url": self.speech.base_url,
            "speech_model": "fake-tts",
            "speech_voice": "onyx",
        } | overrides


@pytest.fixture
def providers() -> Iterator[Providers]:
    with FakeLLM() as image, FakeLLM() as speech:
        image.always(image_answer(PNG))
        speech.always(Raw(MP3, content_type="audio/mpeg"))
        yield Providers(image, speech)


Launch = Callable[..., Service]


@pytest.fixture
def launch(
    store: StoreConfig, media_backend: MediaBackend, providers: Providers
) -> Iterator[Launch]:
    """Start the service with the fake providers (and other settings) on each store."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Service:
            settings = media_backend.overrides | providers.settings(**overrides)
            return stack.enter_context(running(store, **settings))

        yield start


def play_a_turn(service: Service) -> tuple[str, str]:
    """Seat the table (its turn is narrated) and wait until its media is generated."""
    table = seat_table(service)
    media = service.state.media
    assert media is not None
    assert media.generator is not None
    loop = service.state.worker._loop
    assert loop is not None
    asyncio.run_coroutine_threadsafe(media.generator.idle(), loop).result(30)
    return table.session_id, table.turn_id


def events(service: Service, sid: str, name: str) -> list[Any]:
    return [e for e in service.state.sessions.events.get(UUID(sid)) if type(e).__name__ == name]


def test_a_narrated_turn_gets_a_generated_image_and_voice_on_that_turn(
    launch: Launch, providers: Providers
) -> None:
    service = launch()
    sid, turn_id = play_a_turn(service)
    stored = events(service, sid, "MediaStored")
    assert sorted(e.kind for e in stored) == ["audio", "image"]
    assert {(e.source, str(e.turn_id), e.actor) for e in stored} == {("generated", turn_id, None)}
    for event in stored:
        url = f"/api/media/{sid}/{event.kind}/{event.media_id}"
        assert service.call("GET", url, PLAYER).content == (PNG if event.kind == "image" else MP3)
    history = service.call("GET", f"/api/sessions/{sid}/history", PLAYER).json()["messages"]
    turn = next(m for m in history if m["turn_id"] == turn_id and m["role"] == "player")
    assert sorted(item["kind"] for item in turn["media"]) == ["audio", "image"]
    assert events(service, sid, "MediaGenerationFailed") == []


def test_the_providers_are_asked_in_the_openai_shape_with_the_narration(
    launch: Launch, providers: Providers
) -> None:
    service = launch()
    sid, _ = play_a_turn(service)
    [narration] = events(service, sid, "NarrationCompleted")
    [image] = providers.image.requests
    [speech] = providers.speech.requests
    assert image.path == "/v1/images/generations"
    assert image.headers["authorization"] == "Bearer image-key"
    assert image.json["model"] == "fake-image"
    assert image.json["response_format"] == "b64_json"
    assert narration.narrative[:200] in image.json["prompt"]
    assert speech.path == "/v1/audio/speech"
    assert "authorization" not in speech.headers
    assert (speech.json["model"], speech.json["voice"]) == ("fake-tts", "onyx")
    assert speech.json["input"] == narration.narrative


def test_a_failing_provider_leaves_the_narration_and_a_visible_failure(
    launch: Launch, providers: Providers
) -> None:
    providers.image.always(Status(500, "the image model is down"))
    service = launch()
    sid, turn_id = play_a_turn(service)
    assert len(events(service, sid, "NarrationCompleted")) == 1
    [failure] = events(service, sid, "MediaGenerationFailed")
    assert (failure.kind, failure.error_kind, str(failure.turn_id)) == (
        "image",
        "server_error",
        turn_id,
    )
    assert "the image model is down" in failure.message
    assert [e.kind for e in events(service, sid, "MediaStored")] == ["audio"]
    history = service.call("GET", f"/api/sessions/{sid}/history", PLAYER).json()["messages"]
    kinds = [m["kind"] for m in history if m["turn_id"] == turn_id]
    assert kinds == ["action", "narration", "media_failed"]


def test_a_provider_that_times_out_is_recorded_as_a_timeout(
    launch: Launch, providers: Providers
) -> None:
    providers.speech.always(Silent())
    service = launch(speech_timeout_seconds=0.3)
    sid, _ = play_a_turn(service)
    [failure] = events(service, sid, "MediaGenerationFailed")
    assert (failure.kind, failure.error_kind) == ("audio", "timeout")
    assert len(events(service, sid, "NarrationCompleted")) == 1
    assert [e.kind for e in events(service, sid, "MediaStored")] == ["image"]


def test_a_provider_answer_of_the_wrong_type_is_a_bad_response_and_stores_nothing(
    launch: Launch, providers: Providers
) -> None:
    providers.image.always(image_answer(SCRIPT))
    providers.speech.always(Raw(PNG, content_type="audio/mpeg"))
    service = launch()
    sid, _ = play_a_turn(service)
    failures = events(service, sid, "MediaGenerationFailed")
    assert sorted((f.kind, f.error_kind) for f in failures) == [
        ("audio", "bad_response"),
        ("image", "bad_response"),
    ]
    media = service.state.media
    assert media is not None
    assert list(media.store.keys()) == []


def test_without_providers_a_narration_is_text_only(sqlite_store: StoreConfig) -> None:
    with running(sqlite_store) as service:
        media = service.state.media
        assert media is not None
        assert media.generator is None
        assert service.state.worker.on_narrated is None
        sid = seat_table(service).session_id
        assert events(service, sid, "MediaStored") == []
        assert events(service, sid, "MediaGenerationFailed") == []
