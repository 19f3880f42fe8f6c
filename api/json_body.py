"""JSON request bodies parsed strictly, once for every route that takes one.

Python's parser accepts ``NaN``, ``Infinity`` and ``-Infinity``, which JSON does not have and no
browser can read back: such a body answers 400 ``non_finite_number``. A body nested too deeply
for the parser answers 400 ``json_too_deep`` instead of a server error. Each router is built
with ``route_class=StrictJsonRoute`` (FastAPI's documented way to change how a request is read).
"""

from __future__ import annotations

import contextlib
import email.message
import json
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.errors import ApiError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _refuse_constant(name: str) -> None:
    raise ApiError(
        400,
        "non_finite_number",
        f"the request body holds {name}, which is not a JSON number",
        value=name,
    )


def parse_json(body: bytes) -> Any:
    """The body as JSON, refusing what JSON does not have (see the module docstring)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ApiError(400, "json_too_deep", "the request body nests too deeply") from None


@lru_cache(maxsize=64)  # a client sends the same few; the parse costs more than the rest
def _is_json(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: no content type, or application/json or any ``+json``."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_strict_json"):
            self._strict_json = parse_json(await self.body())
        return self._strict_json


class StrictJsonRoute(APIRoute):
    """Parses a JSON body before FastAPI does, so that a refusal is a clear API error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            if (
                request.method in BODY_METHODS
                and _is_json(request.headers.get("content-type"))
                and await strict.body()
            ):
                # Malformed: FastAPI parses it again and answers 400 malformed_json.
                with contextlib.suppress(json.JSONDecodeError):
                    await strict.json()
            return await handler(strict)

        return strict_handler
