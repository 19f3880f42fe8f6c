"""Narrator that calls an OpenAI-compatible ``/v1/chat/completions`` endpoint over httpx.

Works with OpenAI, Ollama, vLLM, llama.cpp server and OpenRouter: it streams when asked to
(and copes with servers that answer plain JSON anyway), and retries what retrying can fix.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final

import httpx

from api.narration.base import DeltaSink, ErrorKind, Narration, NarrationFailed, NarrationRequest
from api.narration.prompt import build_messages
from api.narration.reply import NarrativeStream, parse_reply
from api.narration.wire import (
    AttemptFailed,
    chat_completions_url,
    error_detail,
    parse_retry_after,
    read_completion,
    read_events,
)

log = logging.getLogger(__name__)

# 4xx statuses that a later attempt may get past; every other 4xx is our request's fault.
_RETRYABLE_CLIENT_ERRORS: Final[dict[int, ErrorKind]] = {
    408: "timeout",
    409: "server_error",
    429: "rate_limited",
}


class OpenAICompatNarrator:
    """Narrates through a remote chat model, with timeouts, retries and streaming.

    Each attempt POSTs the whole request. Connect errors, timeouts (connecting, or waiting
    ``read_timeout`` for the next bytes), 429, 408, 409, 5xx, malformed bodies and streams cut
    off midway are retried up to ``max_attempts`` requests in all, after a jittered exponential
    backoff or the server's ``Retry-After``. Any other 4xx fails at once. A stream that drops
    restarts from the beginning, so ``on_delta`` then receives the narrative again from its
    start; there is no reset callback, the caller may show the repeat or de-duplicate it.
    """

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        http: httpx.AsyncClient | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        prompt_budget_chars: int = 24000,
        stream: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1: {max_attempts}")
        self.model = model
        self._url = chat_completions_url(base_url)
        self._api_key = api_key
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._budget = prompt_budget_chars
        self._stream = stream
        self._sleep = sleep
        self._rng = random.Random()  # noqa: S311 - jitter spreads retries; it guards nothing
        # read= bounds each wait for bytes, not the whole answer, so long narrations still stream.
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=self._timeout)

    def __repr__(self) -> str:
        # Spelled out so that the API key can never reach a log through repr().
        return f"OpenAICompatNarrator(url={self._url!r}, model={self.model!r})"

    async def narrate(
        self, request: NarrationRequest, on_delta: DeltaSink | None = None
    ) -> Narration:
        """Narrate ``request``, forwarding narrative text to ``on_delta`` as it arrives.

        Raises ``NarrationFailed`` once the attempts are spent or a failure cannot be retried.
        """
        body = {
            "model": self.model,
            "messages": build_messages(request, self._budget),
            "stream": self._stream,
        }
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(body, on_delta)
            except AttemptFailed as failure:
                if not failure.retryable or attempt >= self._max_attempts:
                    raise NarrationFailed(
                        failure.kind,
                        failure.message,
                        attempts=attempt,
                        status_code=failure.status_code,
                    ) from failure
                delay = failure.retry_after_s
                if delay is None:
                    delay = self._backoff_s(attempt)
                log.warning(
                    "narration attempt %d/%d to %s failed (%s: %s); retrying in %.2f s",
                    attempt,
                    self._max_attempts,
                    self._url,
                    failure.kind,
                    failure.message,
                    delay,
                )
                await self._sleep(delay)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was handed in (then its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()

    def _backoff_s(self, failed_attempts: int) -> float:
        # "Equal jitter": at least half the exponential step, so bad luck never means no wait,
        # and random in the other half, so many workers do not retry in lockstep.
        step = min(self._backoff_cap_s, self._backoff_base_s * 2.0 ** (failed_attempts - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if self._stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _attempt(self, body: dict[str, Any], on_delta: DeltaSink | None) -> Narration:
        relay = _DeltaRelay(on_delta)
        try:
            async with self._http.stream(
                "POST", self._url, json=body, headers=self._headers(), timeout=self._timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise self._status_failure(response)
                if "text/event-stream" in response.headers.get("content-type", ""):
                    content, model = await read_events(response, relay.content)
                else:
                    content, model = read_completion(await response.aread())
        except httpx.TimeoutException as error:
            raise AttemptFailed("timeout", self._describe_timeout(error)) from error
        except httpx.TransportError as error:
            raise AttemptFailed("connection", _describe(error)) from error
        except httpx.DecodingError as error:
            raise AttemptFailed("bad_response", _describe(error)) from error
        reply = parse_reply(content)
        if not reply.narrative and not reply.answer:
            raise AttemptFailed("bad_response", "the model replied with no text")
        await relay.finish(reply.narrative)
        return Narration(
            narrative=reply.narrative,
            answer=reply.answer,
            player_options=reply.player_options,
            structured=reply.structured,
            provider=self.name,
            model=model or self.model,
        )

    def _describe_timeout(self, error: httpx.TimeoutException) -> str:
        # httpx timeouts carry no message; say which limit ran out.
        limits = {
            httpx.ConnectTimeout: ("connecting", self._timeout.connect),
            httpx.ReadTimeout: ("waiting for the response", self._timeout.read),
            httpx.WriteTimeout: ("sending the request", self._timeout.write),
            httpx.PoolTimeout: ("waiting for a free connection", self._timeout.pool),
        }
        doing, limit = limits.get(type(error), ("", None))
        if limit is None:
            return _describe(error)
        return f"{type(error).__name__}: no progress {doing} for {limit:g} s"

    def _status_failure(self, response: httpx.Response) -> AttemptFailed:
        status = response.status_code
        message = f"HTTP {status}: {error_detail(response)}"
        kind = _RETRYABLE_CLIENT_ERRORS.get(status)
        if kind is None and status >= 500:  # noqa: PLR2004 - the 5xx class
            kind = "server_error"
        if kind is None:
            return AttemptFailed("rejected", message, retryable=False, status_code=status)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            retry_after = min(retry_after, self._backoff_cap_s * 4)
        return AttemptFailed(kind, message, status_code=status, retry_after_s=retry_after)


class _DeltaRelay:
    """Forwards the narrative of one attempt to the caller's sink as it streams."""

    def __init__(self, sink: DeltaSink | None) -> None:
        self._sink = sink
        self._narrative = NarrativeStream()
        self._sent: list[str] = []

    async def content(self, piece: str) -> None:
        text = self._narrative.feed(piece)
        if text and self._sink is not None:
            self._sent.append(text)
            await self._sink(text)

    async def finish(self, narrative: str) -> None:
        # Sends what the stream did not (all of it for a JSON answer), so that the pieces
        # always join to the narrative when what was sent is a prefix of it.
        sent = "".join(self._sent)
        if self._sink is not None and narrative.startswith(sent) and len(narrative) > len(sent):
            await self._sink(narrative[len(sent) :])


def _describe(error: httpx.HTTPError) -> str:
    # Some httpx errors have an empty message; the class name still says what happened.
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
