"""Generated media: after a narration is stored, optional OpenAI-compatible image
(``/v1/images/generations``, ``b64_json``) and speech (``/v1/audio/speech``) providers make a
picture and a voice-over, stored as ``MediaStored`` (source ``generated``) linked to the turn.

It runs beside the turn worker, never in its way: the narration already stands, the next turn is
not held up, and a provider that fails or times out leaves a ``MediaGenerationFailed`` note in
the timeline instead of media. One attempt per turn and kind; retrying a narration tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Final, Protocol
from uuid import UUID

from anyio import to_thread

from api.narration import INTERNAL_FAILURE, Narration
from api.settings import Settings
from domain.application import Sessions
from domain.errors import GaiaError
from domain.media import SNIFF_BYTES, MediaType, sniff

log = logging.getLogger(__name__)

MESSAGE_CHARS: Final = 300


class MediaProviderFailed(Exception):
    """A provider gave no usable media; ``error_kind`` as for narrators (timeout, rate_limited,
    server_error, bad_response, connection, rejected)."""

    def __init__(self, error_kind: str, message: str) -> None:
        super().__init__(f"{error_kind}: {message}")
        self.error_kind = error_kind
        self.message = message[:MESSAGE_CHARS]


class Provider(Protocol):
    kind: str

    async def generate(self, narration: Narration) -> bytes | None: ...

    async def aclose(self) -> None: ...


Save = Callable[..., Any]  # MediaWriter.save, called in a worker thread


class MediaGenerator:
    """Runs the providers for each narrated turn as background tasks on the service's loop."""

    def __init__(self, sessions: Sessions, save: Save, providers: list[Provider]) -> None:
        self.sessions = sessions
        self.providers = providers
        self._save = save
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def schedule(self, session_id: UUID, turn_id: UUID, narration: Narration) -> None:
        """Generate media for a stored narration; safe from any thread, returns at once."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, session_id, turn_id, narration)

    def _spawn(self, session_id: UUID, turn_id: UUID, narration: Narration) -> None:
        for provider in self.providers:
            task = asyncio.create_task(
                self._generate(provider, session_id, turn_id, narration),
                name=f"media-{provider.kind}-{turn_id}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no generation is running (tests and graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for provider in self.providers:
            await provider.aclose()

    async def _generate(
        self, provider: Provider, session_id: UUID, turn_id: UUID, narration: Narration
    ) -> None:
        context = {"session_id": str(session_id), "turn_id": str(turn_id)}
        try:
            data = await provider.generate(narration)
            if data is None:
                return
            media_type = _typed(data, provider.kind)
            await to_thread.run_sync(self._store, session_id, turn_id, data, media_type)
        except MediaProviderFailed as failure:
            log.warning("%s generation failed: %s", provider.kind, failure, extra=context)
            await self._failed(session_id, turn_id, provider.kind, failure)
        except GaiaError as error:  # the store, or the session refused (rewound meanwhile)
            log.warning("%s not stored: %s", provider.kind, error.message, extra=context)
            await self._failed(
                session_id, turn_id, provider.kind, MediaProviderFailed("storage", error.message)
            )
        except Exception:
            log.exception("%s generation crashed", provider.kind, extra=context)
            crash = MediaProviderFailed("internal", INTERNAL_FAILURE)  # the log has the rest
            await self._failed(session_id, turn_id, provider.kind, crash)

    def _store(self, session_id: UUID, turn_id: UUID, data: bytes, media_type: MediaType) -> None:
        self._save(
            session_id=session_id,
            actor=None,
            media_type=media_type,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            source="generated",
            data=data,
            turn_id=turn_id,
        )

    async def _failed(
        self, session_id: UUID, turn_id: UUID, kind: str, failure: MediaProviderFailed
    ) -> None:
        def record() -> None:
            try:
                self.sessions.fail_media_generation(
                    session_id=session_id,
                    turn_id=turn_id,
                    kind=kind,
                    error_kind=failure.error_kind,
                    message=failure.message,
                )
            except GaiaError as error:
                log.warning("media failure not recorded: %s", error.message)

        await to_thread.run_sync(record)


def _typed(data: bytes, kind: str) -> MediaType:
    media_type = sniff(data[:SNIFF_BYTES])
    if media_type is None or media_type.kind != kind:
        found = media_type.content_type if media_type else "unrecognised bytes"
        raise MediaProviderFailed("bad_response", f"expected {kind}, got {found}")
    return media_type


def build_generator(settings: Settings, sessions: Sessions, save: Save) -> MediaGenerator | None:
    """A generator with the configured providers, or None when neither is configured."""
    if not (settings.image_base_url or settings.speech_base_url):
        return None
    # Imported here: the providers' HTTP client (httpx) loads only when media generation is on.
    from api.media.providers import ImageProvider, SpeechProvider  # noqa: PLC0415

    providers: list[Provider] = []
    limit = settings.max_upload_bytes
    if settings.image_base_url:
        providers.append(
            ImageProvider(
                settings.image_base_url,
                settings.image_api_key,
                settings.image_model,
                settings.image_size,
                timeout_s=settings.image_timeout_seconds,
                max_bytes=limit,
            )
        )
    if settings.speech_base_url:
        providers.append(
            SpeechProvider(
                settings.speech_base_url,
                settings.speech_api_key,
                settings.speech_model,
                settings.speech_voice,
                timeout_s=settings.speech_timeout_seconds,
                max_bytes=limit,
            )
        )
    return MediaGenerator(sessions, save, providers)
