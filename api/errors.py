"""Every error the API answers, as ``{"error": {"code", "message", "details"}}``, in one place.

Domain errors map by base class; request validation answers 422 (400 for a body that is not
JSON). Every 404 (unknown routes, malformed or unknown ids, sessions the caller is not a member
of, media and files they may not see) is the one ``NOT_FOUND`` answer, byte for byte, so that no
answer tells what exists; only invite tokens keep their own ``invite_invalid`` (ARCHITECTURE
§6.1). A database out of reach answers 503 with
Retry-After wherever it surfaces (the store, the view tables, the locks), and makes the store
circuit (api/circuit.py) probe it.

A failure on our side (5xx) answers its code and a fixed message only: what went wrong (a
driver's message, a file name, a host) goes to the log, never to the caller.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    Conflict,
    Forbidden,
    GaiaError,
    NotFound,
    RuleViolation,
    StoreUnavailable,
    Throttled,
)
from domain.session import InviteInvalid

log = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[GaiaError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (RuleViolation, 422),
    (Throttled, 429),
    (StoreUnavailable, 503),
]

# Raised by the library's recorders (not wrapped in StoreUnavailable on every read path), by
# the view tables' and the locks' pools (PoolTimeout is an OperationalError), and by psycopg
# (whose classes ``install`` adds when PostgreSQL is configured: it is imported only then).
UNREACHABLE_STORE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
STORE_RETRY_AFTER_S: Final = 2  # how long a client waits before trying again, the store out
STORE_RETRY_AFTER: Final = {"Retry-After": str(STORE_RETRY_AFTER_S)}
# A browser's EventSource gives up for good on a non-200 and reconnects after a 200 that ends.
EVENT_STREAM_PATH: Final = re.compile(r"/api/sessions/[^/]+/events")


class ApiError(Exception):
    """An error raised by the API layer itself (auth, limits, request shape)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.details = headers, details


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


# "Not found, or not yours": one body for every such answer, whatever exists or whoever asks.
# Ids are guessable (imported sessions have uuid5 ids of their legacy names), so any difference
# (a code, a message, an id echoed in the details) would let anyone probe for them.
NOT_FOUND_BODY: Final = error_body("not_found", "not found")


def not_found() -> ApiError:
    return ApiError(404, "not_found", "not found")


def not_found_response() -> JSONResponse:
    return JSONResponse(NOT_FOUND_BODY, status_code=404)


def store_unavailable(method: str, path: str, message: str) -> Response:
    """503 with Retry-After; but an event stream gets a 200 that only says when to reconnect,
    so that a browser keeps its EventSource (and its Last-Event-ID) through an outage. It
    carries no event, so it tells nobody anything about the session."""
    if method == "GET" and EVENT_STREAM_PATH.fullmatch(path):
        return Response(
            f": the event store is unavailable\nretry: {STORE_RETRY_AFTER_S * 1000}\n\n",
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"} | STORE_RETRY_AFTER,
        )
    return _json(503, "store_unavailable", message, None, STORE_RETRY_AFTER)


def body_too_large(limit: int) -> Response:
    """413 for a body over GAIA_MAX_BODY_BYTES; the connection closes, since the rest of the
    body is never read (api/bodylimit.py)."""
    return _json(
        413,
        "body_too_large",
        f"the request body is larger than {limit} bytes",
        {"limit_bytes": limit},
        {"Connection": "close"},
    )


def _json(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def install(app: FastAPI, *, postgres: bool = True) -> None:
    """Answer every error as ``{"error": ...}``; ``postgres=False`` (the SQLite store) leaves
    out psycopg's errors, which that store never raises, and so never imports psycopg."""

    @app.exception_handler(GaiaError)
    async def domain_error(request: Request, error: GaiaError) -> Response:
        if isinstance(error, NotFound) and not isinstance(error, InviteInvalid):
            return not_found_response()
        status = next((s for base, s in STATUS_BY_ERROR if isinstance(error, base)), 500)
        headers = None
        if isinstance(error, StoreUnavailable):
            _store_trouble(request, error)
            if EVENT_STREAM_PATH.fullmatch(request.url.path):
                return store_unavailable(request.method, request.url.path, error.message)
            headers = STORE_RETRY_AFTER
        elif isinstance(error, Throttled):
            headers = {"Retry-After": str(error.retry_after_s)}
        elif status >= 500:  # noqa: PLR2004
            log.error("%s on %s %s: %r", error.code, request.method, request.url.path, error)
        if status >= 500:  # noqa: PLR2004
            # Raisers give fixed messages; details (an exception's text) were logged above.
            return _json(status, error.code, error.message, None, headers)
        return _json(status, error.code, error.message, _jsonable(error.details), headers)

    async def store_unreachable(request: Request, error: Exception) -> Response:
        _store_trouble(request, error)
        return store_unavailable(request.method, request.url.path, "the event store is unavailable")

    unreachable = UNREACHABLE_STORE_ERRORS
    if postgres:
        import psycopg  # noqa: PLC0415

        unreachable += (psycopg.OperationalError, psycopg.InterfaceError)
    for error_class in unreachable:
        app.add_exception_handler(error_class, store_unreachable)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        if error.status == 404:  # noqa: PLR2004
            return not_found_response()
        return _json(
            error.status, error.code, error.message, _jsonable(error.details), error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in error.errors()
        ]
        # Ids in paths that do not parse name nothing that exists: 404, never 422.
        if any(p["loc"][:1] == ["path"] for p in problems):
            return not_found_response()
        if any(p["type"] == "json_invalid" for p in problems):
            return _json(
                400, "malformed_json", "the request body is not valid JSON", {"problems": problems}
            )
        return _json(422, "invalid_request", "the request is not valid", {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:  # noqa: PLR2004
            return not_found_response()
        codes = {
            401: "unauthorized",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }
        code = codes.get(error.status_code, "http_error")
        return _json(
            error.status_code,
            code,
            str(error.detail),
            None,
            dict(error.headers) if error.headers else None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, "internal_error", "something went wrong on our side")


def _store_trouble(request: Request, error: Exception) -> None:
    # The driver's own words (a GaiaError keeps them in its details and cause) stay here.
    log.warning(
        "store unavailable on %s %s: %r (%s)",
        request.method,
        request.url.path,
        error.__cause__ or error,
        getattr(error, "details", None) or "",
    )
    # Looked up by name: api.circuit builds its responses with this module.
    circuit = getattr(getattr(request.app.state, "gaia", None), "circuit", None)
    if circuit is not None:
        circuit.suspect()


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        if isinstance(value, (str, int, float, bool, type(None), list, dict))
        else str(value)
        for key, value in details.items()
    }
