"""Turns and history: submit a turn (idempotent by header), retry a narration, page the history."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Header, Path, Query, status

from api.answers.base import ERRORS
from api.answers.history import History, TurnAccepted
from api.deps import Acting, ActingPlayer, Member, MinPosition, State, parse_id
from api.errors import ApiError
from api.json_body import StrictJsonRoute
from api.schemas import TurnIn
from api.state import AppState

router = APIRouter(tags=["turns"], route_class=StrictJsonRoute, responses=ERRORS)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=200, description="a repeat answers the first response"
    ),
]


# The write routes are ``async`` and make one explicit trip to a worker thread: FastAPI runs a
# plain ``def`` endpoint in its thread pool and then its answer's validation in another trip.


@router.post("/api/sessions/{sid}/turns", status_code=status.HTTP_202_ACCEPTED)
async def submit_turn(
    body: TurnIn, access: ActingPlayer, state: State, idempotency_key: IdempotencyKey = None
) -> TurnAccepted:
    """Accept a turn for narration. Quotas (429 ``rate_limited``): turns per user and per
    session, and turns waiting for narration per session; a repeat of an Idempotency-Key
    answers its first turn and costs no quota."""
    return await to_thread.run_sync(_submit, body, access, state, idempotency_key)


def _submit(
    body: TurnIn, access: Acting, state: AppState, idempotency_key: str | None
) -> TurnAccepted:
    limit = state.settings.max_turn_chars
    if len(body.text) > limit:
        raise ApiError(422, "turn_too_long", f"text is limited to {limit} characters", limit=limit)
    character = None
    if body.character_id or body.character_name:
        character = {"id": body.character_id or "", "name": body.character_name or ""}
    settings, rates = state.settings, state.rates
    quotas = (
        (rates.turns_per_session, str(access.session_id)),
        (rates.turns_per_user, access.caller.user_id),
    )
    rates.take("too many turns; try again later", *quotas)
    try:
        accepted = state.sessions.submit_turn(
            session_id=access.session_id,
            actor=access.caller.user_id,
            text=body.text,
            kind=body.kind,
            character=character,
            idempotency_key=idempotency_key,
            max_pending=settings.pending_turns_per_session if settings.quotas_enabled else None,
        )
    except BaseException:
        rates.give_back(*quotas)  # nothing was written
        raise
    if accepted.repeated:
        rates.give_back(*quotas)  # the first request paid for it
    else:
        state.metrics.turns_submitted.inc()
        state.worker.schedule(access.session_id, accepted.version)
    return TurnAccepted(
        turn_id=str(accepted.turn_id), version=accepted.version, position=accepted.position
    )


@router.post("/api/sessions/{sid}/turns/{turn_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_turn(
    access: ActingPlayer, state: State, turn_id: Annotated[str, Path(max_length=64)]
) -> TurnAccepted:
    """Narrate a turn again. Quotas (429 ``rate_limited``): retries per turn, and turns waiting
    for narration per session."""
    return await to_thread.run_sync(_retry, access, state, turn_id)


def _retry(access: Acting, state: AppState, turn_id: str) -> TurnAccepted:
    tid = parse_id(turn_id)
    settings, rates = state.settings, state.rates
    quota = (rates.retries_per_turn, f"{access.session_id}/{tid}")
    rates.take("this turn was retried too often; try again later", quota)
    try:
        written = state.sessions.request_narration(
            session_id=access.session_id,
            actor=access.caller.user_id,
            turn_id=tid,
            max_pending=settings.pending_turns_per_session if settings.quotas_enabled else None,
        )
    except BaseException:
        rates.give_back(quota)  # nothing was written
        raise
    state.worker.schedule(access.session_id, written.version)
    return TurnAccepted(turn_id=str(tid), version=written.version, position=written.position)


@router.get("/api/sessions/{sid}/history", response_model_exclude_unset=True)
def history(
    access: Member,
    # Versions of messages a fork inherited are <= 0; the bounds keep values 64-bit.
    after: Annotated[
        int | None,
        Query(ge=-(2**62), le=2**62, description="only messages with a greater version"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: MinPosition = None,
    before: Annotated[
        int | None,
        Query(
            ge=-(2**62),
            le=2**62,
            description="read backwards: the last messages with a smaller version "
            "(`previous_before` pages on)",
        ),
    ] = None,
) -> History:
    # The per-session view caught up to the stream's head when access was checked, so any
    # write acknowledged before this request is already in it: min_position needs no wait
    # (one past the store's head was refused 409).
    if before is not None:
        page, previous, newer = access.view.history_before(before, limit)
        return History(
            messages=page, next_after=newer, previous_before=previous, version=access.view.version
        )
    page, next_after = access.view.history_page(after, limit)
    return History(messages=page, next_after=next_after, version=access.view.version)
