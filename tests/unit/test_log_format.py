"""GAIA_LOG_FORMAT: readable lines for a person at a terminal, Cloud Logging JSON for a machine,
and ``auto`` choosing between them by whether stdout is a terminal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from api.observability import (
    CloudLoggingFormatter,
    RequestContext,
    TextFormatter,
    choose_formatter,
    configure_logging,
)
from api.settings import Settings

TRACE_ID = "105445aa7843bc8bf206b12000100000"
SESSION_ID = "3f2c7d0e-8a41-4b6e-9c55-1d2e3f4a5b6c"
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (?P<level>\w+) +(?P<logger>\S+)  (?P<rest>.*)$")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stdout does in a developer's shell."""

    def isatty(self) -> bool:
        return True


def make_record(message: str, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("gaia.test", level, __file__, 7, message, None, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger; put its handlers and level back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_text_line_has_time_level_logger_message_and_fields() -> None:
    line = TextFormatter().format(
        make_record("turn narrated", logging.WARNING, session_id=SESSION_ID, store="pg")
    )
    match = LINE.match(line)
    assert match is not None, line
    assert (match["level"], match["logger"]) == ("WARNING", "gaia.test")
    assert match["rest"] == f"turn narrated  session={SESSION_ID} store=pg"


def test_a_text_line_quotes_a_field_with_spaces_so_that_fields_still_split() -> None:
    line = TextFormatter().format(make_record("refused", reason="too long", empty=""))
    assert line.endswith('refused  reason="too long" empty=""')


def test_a_text_line_carries_the_request_trace_and_the_session_from_the_path() -> None:
    lines: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        lines.append(TextFormatter().format(make_record("inside the request")))

    scope = {
        "type": "http",
        "path": f"/api/sessions/{SESSION_ID}/turns",
        "headers": [(b"x-cloud-trace-context", f"{TRACE_ID}/1".encode())],
    }
    asyncio.run(RequestContext(app)(scope, None, None))  # type: ignore[arg-type]
    (inside,) = lines
    after = TextFormatter().format(make_record("after the request"))
    assert inside.endswith(f"inside the request  session={SESSION_ID} trace={TRACE_ID}")
    assert after.endswith("after the request")


def test_a_text_record_keeps_its_traceback_on_the_lines_below() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = make_record("narration stopped", logging.ERROR)
        failed.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(failed).splitlines()
    assert first.endswith("ERROR   gaia.test  narration stopped")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


@pytest.mark.parametrize(
    ("log_format", "terminal", "expected"),
    [
        ("auto", True, TextFormatter),
        ("auto", False, CloudLoggingFormatter),
        ("text", False, TextFormatter),
        ("json", True, CloudLoggingFormatter),
    ],
)
def test_the_format_follows_the_setting_and_auto_asks_whether_stdout_is_a_terminal(
    log_format: str, terminal: bool, expected: type[logging.Formatter]
) -> None:
    stream = Terminal() if terminal else io.StringIO()
    formatter = choose_formatter(log_format, "gaia-prod", stream)  # type: ignore[arg-type]
    assert type(formatter) is expected


def test_auto_writes_json_where_the_stream_cannot_say() -> None:
    class Closed(io.StringIO):
        def isatty(self) -> bool:
            raise ValueError("I/O operation on closed file")

    assert type(choose_formatter("auto", None, Closed())) is CloudLoggingFormatter


def test_configure_logging_writes_the_chosen_format_to_the_stream(restore_logging: None) -> None:
    terminal, pipe = Terminal(), io.StringIO()
    configure_logging("INFO", None, "auto", terminal)
    logging.getLogger("gaia.test").info("to a person", extra={"store": "sqlite"})
    configure_logging("INFO", None, "auto", pipe)
    logging.getLogger("gaia.test").info("to a machine")
    assert LINE.match(terminal.getvalue().rstrip("\n"))
    assert terminal.getvalue().rstrip("\n").endswith("to a person  store=sqlite")
    assert json.loads(pipe.getvalue())["message"] == "to a machine"


def test_the_setting_defaults_to_auto_and_refuses_other_formats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GAIA_LOG_FORMAT", raising=False)
    assert Settings().log_format == "auto"
    monkeypatch.setenv("GAIA_LOG_FORMAT", "text")
    assert Settings().log_format == "text"
    monkeypatch.setenv("GAIA_LOG_FORMAT", "yaml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
