"""Generated media: after a narration is stored, optional OpenAI-compatible image
(``/v1/images/generations``, ``b64_json``) and speech (``/v1/audio/speech``) providers make a
picture and a voice-over, stored as ``MediaStored`` (source ``generated``) linked to the turn.

It runs beside the turn worker, never in its way: the narration already stands, the next turn is
not held up, and a provider that fails or times out leaves a ``MediaGenerationFailed`` note in
the timeline instead of media. One attempt per turn and kind; retrying a narration tries again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Final, Protocol
from uuid import UUID

import httpx
from anyio import to_thread

from api.narration import INTERNAL_FAILURE, Narration
from api.narration.wire import error_detail
from api.settings import Settings
from domain.application import Sessions
from domain.errors import GaiaError
from domain.media import SNIFF_BYTES, MediaType, sniff

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S: Final = 5.0
MESSAGE_CHARS: Final = 300
IMAGE_PROMPT_CHARS: Final = 1000
SPEECH_INPUT_CHARS: Final = 4096  # OpenAI's limit for one speech request
IMAGE_STYLE: Final = "An illustration for a tabletop role-playing game scene. "


class MediaProviderFailed(Exception):
    """A provider gave no usable media; ``error_kind`` as for narrators (timeout, rate_limited,
    server_error, bad_response, connection, rejected)."""

    def __init__(self, error_kind: str, message: str) -> None:
        super().__init__(f"{error_kind}: {message}")
        self.error_kind = error_kind
        self.message = message[:MESSAGE_CHARS]


def endpoint(base_url: str, path: str) -> str:
    """``<base>/v1/<path>`` for a base URL given with or without its ``/v1``."""
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"a media provider base URL must be an http(s) URL: {base_url!r}")
    root = base_url.rstrip("/")
    return f"{root}/{path}" if root.endswith("/v1") else f"{root}/v1/{path}"


class _Provider:
    """One JSON POST with a whole-request deadline and a cap on the answer's size."""

    kind: str = ""

    def __init__(self, url: str, api_key: str | None, *, timeout_s: float, max_bytes: int) -> None:
        self.url = url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"  # never the API key

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, body: dict[str, Any], *, limit: int) -> tuple[bytes, str]:
        """The answer's body and content type; raises ``MediaProviderFailed``."""
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                self._http.stream("POST", self.url, json=body, headers=self._headers) as response,
            ):
                if not response.is_success:
                    await response.aread()
                    raise _status_failure(response)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise MediaProviderFailed("bad_response", f"the answer is over {limit} B")
                return bytes(data), response.headers.get("content-type", "")
        except TimeoutError:
            raise MediaProviderFailed(
                "timeout", f"no answer within {self._timeout_s:g} s"
            ) from None
        except httpx.TimeoutException as error:
            raise MediaProviderFailed("timeout", type(error).__name__) from None
        except httpx.HTTPError as error:
            raise MediaProviderFailed("connection", f"{type(error).__name__}: {error}") from None


def _status_failure(response: httpx.Response) -> MediaProviderFailed:
    status = response.status_code
    kind = (
        "rate_limited"
        if status == 429  # noqa: PLR2004
        else "server_error"
        if status >= 500  # noqa: PLR2004
        else "rejected"
    )
    return MediaProviderFailed(kind, f"HTTP {status}: {error_detail(response)}")


class ImageProvider(_Provider):
    kind = "image"

    def __init__(
        self, base_url: str, api_key: str | None, model: str, size: str, **kw: Any
    ) -> None:
        super().__init__(endpoint(base_url, "images/generations"), api_key, **kw)
        self.model, self.size = model, size

    async def generate(self, narration: Narration) -> bytes | None:
        prompt = narration.structured.get("image_prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            prompt = narration.narrative
        if not prompt.strip():
            return None
        body = {
            "model": self.model,
            "prompt": IMAGE_STYLE + prompt[:IMAGE_PROMPT_CHARS],
            "n": 1,
            "size": self.size,
            "response_format": "b64_json",
        }
        # Base64 is 4/3 of the bytes, plus the JSON around it.
        raw, _ = await self._post(body, limit=self._max_bytes * 4 // 3 + 64 * 1024)
        try:
            encoded = _json_object(raw)["data"][0]["b64_json"]
            return base64.b64decode(encoded, validate=True)
        except (KeyError, IndexError, TypeError, ValueError, binascii.Error) as error:
            raise MediaProviderFailed("bad_response", f"no b64_json image: {error}") from None


class SpeechProvider(_Provider):
    kind = "audio"

    def __init__(
        self, base_url: str, api_key: str | None, model: str, voice: str, **kw: Any
    ) -> None:
        super().__init__(endpoint(base_url, "audio/speech"), api_key, **kw)
        self.model, self.voice = model, voice

    async def generate(self, narration: Narration) -> bytes | None:
        text = (narration.narrative or narration.answer).strip()
        if not text:
            return None
        body = {
            "model": self.model,
            "input": text[:SPEECH_INPUT_CHARS],
            "voice": self.voice,
            "response_format": "mp3",
        }
        data, _ = await self._post(body, limit=self._max_bytes)
        return data


def _json_object(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("the answer is not a JSON object")
    return value


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
    return MediaGenerator(sessions, save, providers) if providers else None
