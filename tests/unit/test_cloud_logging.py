"""Log lines in Cloud Logging's shape: severity and message, the request's trace when the
project is known, the session id from ``extra`` or from the request's path."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from api.observability import CloudLoggingFormatter, RequestContext, parse_trace

TRACE_ID = "105445aa7843bc8bf206b12000100000"
SESSION_ID = "3f2c7d0e-8a41-4b6e-9c55-1d2e3f4a5b6c"


def record(message: str = "hello", level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("gaia.test", level, __file__, 7, message, None, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def entries_logged_during_a_request(
    formatter: CloudLoggingFormatter, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Run a request through RequestContext to an app that logs once; the entries it made."""
    lines: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        lines.append(formatter.format(record("inside the request")))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    scope = {
        "type": "http",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(RequestContext(app)(scope, receive, send))
    lines.append(formatter.format(record("after the request")))
    return [json.loads(line) for line in lines]


def test_a_record_is_one_json_line_with_severity_and_message() -> None:
    line = CloudLoggingFormatter().format(record("turn narrated", logging.WARNING, store="pg"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "turn narrated"
    assert entry["store"] == "pg"
    assert entry["logging.googleapis.com/sourceLocation"]["line"] == 7


def test_an_exception_is_appended_to_the_message_for_error_reporting() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys  # noqa: PLC0415

        failed = record("narration stopped", logging.ERROR)
        failed.exc_info = sys.exc_info()
    entry = json.loads(CloudLoggingFormatter().format(failed))
    assert entry["message"].startswith("narration stopped\nTraceback")
    assert "ValueError: boom" in entry["message"]


def test_the_session_id_given_as_extra_is_a_field() -> None:
    entry = json.loads(CloudLoggingFormatter().format(record(session_id=SESSION_ID)))
    assert entry["session_id"] == SESSION_ID


def test_the_cloud_trace_header_becomes_the_trace_field_when_the_project_is_known() -> None:
    header = {"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"}
    inside, after = entries_logged_during_a_request(
        CloudLoggingFormatter("gaia-prod"), f"/api/sessions/{SESSION_ID}/turns", header
    )
    assert inside["logging.googleapis.com/trace"] == f"projects/gaia-prod/traces/{TRACE_ID}"
    assert inside["logging.googleapis.com/spanId"] == "1"
    assert inside["logging.googleapis.com/trace_sampled"] is True
    assert inside["session_id"] == SESSION_ID  # from the path
    assert "logging.googleapis.com/trace" not in after
    assert "session_id" not in after


def test_without_a_project_no_trace_field_is_written() -> None:
    (inside, _) = entries_logged_during_a_request(
        CloudLoggingFormatter(None), "/api/sessions", {"X-Cloud-Trace-Context": TRACE_ID}
    )
    assert "logging.googleapis.com/trace" not in inside
    assert "session_id" not in inside


def test_a_malformed_trace_header_is_ignored() -> None:
    assert parse_trace("not-a-trace") is None
    assert parse_trace(None) is None
    parsed = parse_trace(TRACE_ID.upper())
    assert parsed is not None
    assert (parsed.trace_id, parsed.span_id, parsed.sampled) == (TRACE_ID, None, False)
