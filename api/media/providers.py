"""The OpenAI-compatible media providers: ``ImageProvider`` (``/v1/images/generations``,
``b64_json``) and ``SpeechProvider`` (``/v1/audio/speech``), each one JSON POST over httpx."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any, Final

import httpx

from api.media.generation import MediaProviderFailed
from api.narration import Narration
from api.narration.wire import error_detail

CONNECT_TIMEOUT_S: Final = 5.0
IMAGE_PROMPT_CHARS: Final = 1000
SPEECH_INPUT_CHARS: Final = 4096  # OpenAI's limit for one speech request
IMAGE_STYLE: Final = "An illustration for a tabletop role-playing game scene. "


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
