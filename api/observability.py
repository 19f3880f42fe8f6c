"""Logs as Cloud Logging reads them: one JSON object a line with ``severity`` and ``message``,
the request's trace (from ``X-Cloud-Trace-Context``, when GOOGLE_CLOUD_PROJECT names the
project) and the session id whenever there is one (``extra={"session_id": ...}`` or the path).
At a terminal the same records read as plain lines instead (``GAIA_LOG_FORMAT``).

``RequestContext`` keeps the request's trace and session in context variables, so that every
record logged while serving it carries them, whichever logger wrote it. ``RedactQuerySecrets``
keeps the tickets that URLs carry (``?ticket=``) out of uvicorn's access log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

# "TRACE_ID/SPAN_ID;o=OPTIONS", the span and the options being optional.
TRACE_HEADER: Final = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=(\d+))?")
SESSION_PATH: Final = re.compile(r"^/api/sessions/([0-9a-fA-F-]{36})(?:/|$)")
# Attributes every LogRecord has, and uvicorn's terminal colours; anything else on a record
# came in through ``extra`` and goes into the entry.
# Query parameters that carry a secret: stream and media tickets, and access tokens a client put
# in a URL (refused, but the access log would still keep them). Names compare decoded.
SECRET_QUERY_PARAMETERS: Final = frozenset({"ticket", "token", "access_token"})
REDACTED: Final = "[redacted]"
_RECORD_FIELDS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}
)


@dataclass(frozen=True)
class Trace:
    trace_id: str
    span_id: str | None
    sampled: bool


_trace: ContextVar[Trace | None] = ContextVar("gaia_trace", default=None)
_session_id: ContextVar[str | None] = ContextVar("gaia_session_id", default=None)


def parse_trace(header: str | None) -> Trace | None:
    match = TRACE_HEADER.match(header or "")
    if match is None:
        return None
    trace_id, span_id, options = match.groups()
    return Trace(trace_id.lower(), span_id, options == "1")


class RequestContext:
    """ASGI middleware: the request's trace and session id, for the log records it causes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-cloud-trace-context"),
            None,
        )
        session = SESSION_PATH.match(scope["path"])
        trace_token = _trace.set(parse_trace(header))
        session_token = _session_id.set(session.group(1).lower() if session else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _trace.reset(trace_token)
            _session_id.reset(session_token)


def redact_query(target: str) -> str:
    """``target`` (a path with its query) with the value of every secret parameter replaced."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pieces = []
    for piece in query.split("&"):
        name, equals, _ = piece.partition("=")
        secret = unquote_plus(name).strip().lower() in SECRET_QUERY_PARAMETERS
        pieces.append(f"{name}={REDACTED}" if secret and equals else piece)
    return f"{path}?{'&'.join(pieces)}"


class RedactQuerySecrets(logging.Filter):
    """Takes the secrets out of the URL of uvicorn's access records before any handler sees it.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with the path and query as the third argument.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):  # noqa: PLR2004
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


class CloudLoggingFormatter(logging.Formatter):
    """A record as one line of JSON in Cloud Logging's structured shape."""

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        # Error Reporting finds a stack trace at the end of the message.
        message = _message_with_trace(self, record)
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": message,
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname,
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        session_id, extra = _context_fields(record)
        if session_id:
            entry["session_id"] = session_id
        entry |= extra
        trace = _trace.get()
        if trace is not None and self.project:
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self.project}/traces/{trace.trace_id}"
            )
            if trace.span_id:
                entry["logging.googleapis.com/spanId"] = trace.span_id
            entry["logging.googleapis.com/trace_sampled"] = trace.sampled
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A record as one readable line for a person at a terminal: local time, level, logger,
    message, then the session, the trace and any ``extra`` fields as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).astimezone()
        fields = []
        session_id, extra = _context_fields(record)
        if session_id:
            fields.append(f"session={session_id}")
        trace = _trace.get()
        if trace is not None:
            fields.append(f"trace={trace.trace_id}")
        fields += [f"{key}={_text_value(value)}" for key, value in extra.items()]
        head = f"{when:%H:%M:%S}.{when.microsecond // 1000:03d} {record.levelname:<7} {record.name}"
        # A traceback stays on the lines below, as Python prints it.
        message, _, trace_text = _message_with_trace(self, record).partition("\n")
        line = "  ".join(part for part in (head, message, " ".join(fields)) if part)
        return f"{line}\n{trace_text}" if trace_text else line


LogFormat = Literal["auto", "json", "text"]


def choose_formatter(
    log_format: LogFormat, project: str | None, stream: TextIO
) -> logging.Formatter:
    """``text`` or ``json``, or for ``auto`` text when ``stream`` is a terminal and JSON otherwise
    (a container's stdout is a pipe, so Cloud Run keeps its structured entries)."""
    if log_format == "text" or (log_format == "auto" and _is_terminal(stream)):
        return TextFormatter()
    return CloudLoggingFormatter(project)


def configure_logging(
    level: str, project: str | None, log_format: LogFormat = "auto", stream: TextIO | None = None
) -> None:
    """Send every logger's records, uvicorn's too, to ``stream`` (stdout) in ``log_format``."""
    stream = sys.stdout if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(choose_formatter(log_format, project, stream))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuerySecrets) for f in access.filters):
        access.addFilter(RedactQuerySecrets())


def _message_with_trace(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's message, followed by its exception's traceback or its stack, if any."""
    message = record.getMessage()
    if record.exc_info:
        return f"{message}\n{formatter.formatException(record.exc_info)}"
    if record.stack_info:
        return f"{message}\n{formatter.formatStack(record.stack_info)}"
    return message


def _context_fields(record: logging.LogRecord) -> tuple[str | None, dict[str, Any]]:
    """The record's session id (its own, else the request's) and its other ``extra`` fields."""
    extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
    session_id = extra.pop("session_id", None) or _session_id.get()
    return (str(session_id) if session_id else None), extra


def _text_value(value: object) -> str:
    text = str(value)
    # Quoted only when needed, so that the line still splits on spaces into its fields.
    return json.dumps(text, ensure_ascii=False) if not text or re.search(r'[\s="]', text) else text


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
