"""The OpenAI chat-completions wire format: completions whole or streamed, and error answers.

Every reader raises ``AttemptFailed`` for a body it cannot use; the narrator decides whether
to try again.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from httpx_sse import EventSource

from api.narration.base import ErrorKind

DETAIL_CHARS: Final = 200


class AttemptFailed(Exception):
    """One request failed; the narrator decides whether to try again."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retryable: bool = True,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after_s = retry_after_s


def chat_completions_url(base_url: str) -> str:
    """The chat-completions URL for a base URL given with or without its ``/v1``."""
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"the narrator base URL must be an http(s) URL: {base_url!r}")
    root = base_url.rstrip("/")
    if root.endswith("/chat/completions"):
        return root
    if root.endswith("/v1"):
        return f"{root}/chat/completions"
    return f"{root}/v1/chat/completions"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP date), if valid."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


async def read_events(
    response: httpx.Response, on_content: Callable[[str], Awaitable[None]]
) -> tuple[str, str | None]:
    """Assemble a streamed completion, passing on each content piece; return (content, model)."""
    pieces: list[str] = []
    model: str | None = None
    finished = False
    async with aclosing(EventSource(response).aiter_sse()) as events:
        async for event in events:
            data = event.data
            if not data:
                continue  # an event of only an id, a name or a retry delay carries no chunk
            if data == "[DONE]":
                return "".join(pieces), model
            chunk = _json_object(data, "a stream event")
            if chunk.get("error"):
                raise AttemptFailed(
                    "server_error", f"error event in the stream: {data[:DETAIL_CHARS]}"
                )
            if isinstance(chunk.get("model"), str):
                model = chunk["model"]
            choices = chunk.get("choices")
            # Some servers send chunks without choices (usage, keep-alive); they carry no text.
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                continue
            delta = choices[0].get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                pieces.append(content)
                await on_content(content)
            finished = finished or choices[0].get("finish_reason") is not None
    if not finished:
        # Without [DONE] or a finish_reason, a clean end of body still means a cut-off answer.
        raise AttemptFailed("connection", "the stream ended before the answer was complete")
    return "".join(pieces), model


def read_completion(raw: bytes) -> tuple[str, str | None]:
    """Read a non-streamed completion; return (content, model)."""
    payload = _json_object(raw, "the response")
    if payload.get("error"):
        raise AttemptFailed("server_error", f"error in the response: {raw[:DETAIL_CHARS]!r}")
    choices = payload.get("choices")
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise AttemptFailed("bad_response", "the response has no choices[0].message.content")
    model = payload.get("model")
    return content, model if isinstance(model, str) else None


def _json_object(raw: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        value = None
    if not isinstance(value, dict):
        snippet = raw[:DETAIL_CHARS]
        raise AttemptFailed("bad_response", f"{what} is not a JSON object: {snippet!r}")
    return value


def error_detail(response: httpx.Response) -> str:
    """The reason an error answer gives, shortened."""
    # OpenAI-style servers put the reason in {"error": {"message": ...}}; others send text.
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message[:DETAIL_CHARS]
    return response.text[:DETAIL_CHARS] or response.reason_phrase
