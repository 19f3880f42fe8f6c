"""A real OpenAI-compatible chat-completions server on loopback, scripted by each test.

``FakeLLM`` listens on a free 127.0.0.1 port in a background thread (``http.server``), so the
narrator under test goes through real sockets, HTTP/1.1 and chunked SSE. Tests queue replies,
which are used in order, one per request, then ``fallback`` answers; every request received
is recorded. Replies:

- ``Answer``: a normal completion, streamed as SSE when the request asked for ``stream: true``
  (or as forced by ``stream=``); it can wait before the headers or between chunks, hold its
  chunks until the test releases them, and drop the connection after some chunks, as a
  crashed upstream would.
- ``Status``: an error status with an OpenAI-style error body, optionally ``Retry-After``.
- ``Raw``: any body with any content type, e.g. malformed JSON.

Waits inside replies end early when the server stops, so a test never waits for a slow reply.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    raw_body: bytes
    received_at: float  # time.monotonic() once the body was read

    @property
    def json(self) -> Any:
        return json.loads(self.raw_body)


class Reply(Protocol):
    def send(self, exchange: Exchange) -> None: ...


@dataclass(frozen=True)
class Answer:
    """A successful completion whose content is ``text``.

    ``pieces`` splits the content into SSE chunks (default: about one per word); their join
    must equal ``text``. ``stream`` None follows the request's ``stream`` flag.
    ``drop_after`` closes the connection after that many content chunks, mid-body.
    """

    text: str
    pieces: Sequence[str] | None = None
    stream: bool | None = None
    delay_s: float = 0.0  # before the status line and headers
    chunk_delay_s: float = 0.0  # before each content chunk
    drop_after: int | None = None
    # Hold the chunks after the first ``hold_after`` until ``release`` is set (by the test).
    release: threading.Event | None = None
    hold_after: int = 1
    model: str = "fake-model"

    def send(self, exchange: Exchange) -> None:
        if not exchange.pause(self.delay_s):
            return
        wants_stream = exchange.request_json().get("stream") is True
        if self.stream if self.stream is not None else wants_stream:
            self._send_stream(exchange)
        else:
            completion = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.text},
                        "finish_reason": "stop",
                    }
                ],
            }
            exchange.send_body(200, json.dumps(completion).encode(), "application/json")

    def _send_stream(self, exchange: Exchange) -> None:
        pieces = list(self.pieces) if self.pieces is not None else _words(self.text)
        assert "".join(pieces) == self.text, "the pieces must join to the text"
        exchange.start_chunked(200, "text/event-stream")
        exchange.send_event({"model": self.model, "choices": [{"delta": {"role": "assistant"}}]})
        for sent, piece in enumerate(pieces):
            if self.drop_after is not None and sent >= self.drop_after:
                exchange.drop()
                return
            if sent == self.hold_after and not self._released(exchange):
                return
            if not exchange.pause(self.chunk_delay_s):
                return
            delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            exchange.send_event({"model": self.model, "choices": [delta]})
        end = {"index": 0, "delta": {}, "finish_reason": "stop"}
        exchange.send_event({"model": self.model, "choices": [end]})
        exchange.send_chunk(b"data: [DONE]\n\n")
        exchange.end_chunked()

    def _released(self, exchange: Exchange) -> bool:
        return self.release is None or exchange.wait_for(self.release)


@dataclass(frozen=True)
class Status:
    """An error answer: ``status`` with an OpenAI-style error body."""

    status: int
    message: str = "scripted error"
    retry_after: str | None = None  # the Retry-After header verbatim

    def send(self, exchange: Exchange) -> None:
        body = json.dumps({"error": {"message": self.message, "type": "fake"}}).encode()
        extra = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
        exchange.send_body(self.status, body, "application/json", extra)


@dataclass(frozen=True)
class Raw:
    """Any body, e.g. malformed JSON with a JSON content type."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200

    def send(self, exchange: Exchange) -> None:
        exchange.send_body(self.status, self.body, self.content_type)


class Exchange:
    """What a reply may do with one request: wait, answer, stream, or drop the connection."""

    def __init__(self, handler: _Handler, request: RecordedRequest, stop: threading.Event):
        self._handler = handler
        self.request = request
        self._stop = stop

    def request_json(self) -> dict[str, Any]:
        try:
            value = self.request.json
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if the server stops; False when it is stopping."""
        if seconds > 0:
            self._stop.wait(seconds)
        return not self._stop.is_set()

    def wait_for(self, event: threading.Event, timeout: float = 10.0) -> bool:
        """Wait until ``event`` is set; False if the server stops or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        # Polls the stop flag too, so that stop() never waits for an event nobody will set.
        while not event.wait(0.02):
            if self._stop.is_set() or time.monotonic() > deadline:
                return False
        return True

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._head(status, {"Content-Type": content_type, "Content-Length": str(len(body))})
        for name, value in (headers or {}).items():
            self._handler.send_header(name, value)
        self._handler.end_headers()
        self._handler.wfile.write(body)

    def start_chunked(self, status: int, content_type: str) -> None:
        self._head(status, {"Content-Type": content_type, "Transfer-Encoding": "chunked"})
        self._handler.send_header("Cache-Control", "no-cache")
        self._handler.end_headers()

    def send_event(self, payload: Mapping[str, Any]) -> None:
        self.send_chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def send_chunk(self, data: bytes) -> None:
        self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self) -> None:
        self._handler.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        """Close the connection without ending the chunked body: the client sees a cut stream."""
        self._handler.close_connection = True

    def _head(self, status: int, headers: Mapping[str, str]) -> None:
        self._handler.send_response(status)
        # One request per connection: every attempt of the client opens a fresh one.
        self._handler.send_header("Connection", "close")
        for name, value in headers.items():
            self._handler.send_header(name, value)


@dataclass
class _Script:
    queued: list[Reply] = field(default_factory=list)
    fallback: Reply = field(default_factory=lambda: Answer("The fake model has nothing to say."))


class FakeLLM:
    """The server: ``start()``/``stop()``, or use it as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._script = _Script()
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeLLM:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-llm"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._stop.set()  # cut short the waits of slow replies still in progress
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join()
        self._server = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT`` (no ``/v1``)."""
        assert self._server is not None, "the fake LLM is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        with self._lock:
            self._script.queued.extend(replies)

    def always(self, reply: Reply) -> None:
        """Answer with ``reply`` whenever no queued reply is left."""
        with self._lock:
            self._script.fallback = reply

    # -- observation

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected errors inside the server (a client hanging up is not one)."""
        with self._lock:
            return list(self._errors)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived; raise TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} request(s) arrived, not {count}")
            return list(self._requests)

    # -- called by the handler threads

    def _take(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            return self._script.queued.pop(0) if self._script.queued else self._script.fallback

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self._errors.append(error)


class _Server(ThreadingHTTPServer):
    fake: FakeLLM
    daemon_threads = False  # server_close() joins them, so nothing outlives the test
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints to stderr; keep the error for a test to see instead.
        error = sys.exc_info()[1]
        if error is not None:
            self.fake._record_error(error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked SSE needs it; a dropped stream is then detectable
    server: _Server
    timeout = 10  # a client that never finishes its request cannot hold stop() forever

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=body,
            received_at=time.monotonic(),
        )
        fake = self.server.fake
        reply = fake._take(request)
        # A client that gave up first (a timeout test) has nobody left to answer.
        with contextlib.suppress(ConnectionError):
            reply.send(Exchange(self, request, fake._stop))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the requests are recorded instead."""


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]]
