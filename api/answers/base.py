"""The pieces every answer shares: the closed base model, the error body the whole API answers
with, the ``version``/``position`` pair a write returns, and a person's name card."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

# A key that some answers leave out rather than set to null (``pending`` on a settled message):
# typed ``X | Absent = None`` and answered with ``response_model_exclude_unset``, so that the
# schema says "optional" without saying "nullable".
Absent = SkipJsonSchema[None]


class Answer(BaseModel):
    """A JSON answer whose keys are all named: a key the route does not declare fails the
    answer's validation (500) rather than leaking out undocumented."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Answer):
    code: str = Field(description="stable, machine-readable: `not_found`, `rate_limited`, ...")
    message: str = Field(description="for people; may change")
    details: dict[str, Any] = Field(description="what the code needs said (limits, fields)")


class ErrorAnswer(Answer):
    """Every error the API answers (api/errors.py)."""

    error: ErrorBody


# Declared on every router: each 4xx and 5xx answer is an ErrorAnswer. (Declaring "4XX" also
# keeps FastAPI from documenting its own 422 body, which this API never sends.)
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    "4XX": {"model": ErrorAnswer, "description": "refused: the error says why"},
    "5XX": {"model": ErrorAnswer, "description": "failed on our side, or the store is away"},
}


class Written(Answer):
    """Where a write landed: the session's new version and the store's position, which a
    later read may wait for with ``?min_position=``."""

    version: int
    position: int


class Person(Answer):
    user_id: str
    display_name: str


class Ticket(Answer):
    """A signed ticket for URLs a browser opens without headers (``?ticket=``)."""

    ticket: str
    expires_in: int = Field(description="seconds")
