"""Health, readiness, metrics and the guest sign-in of the embedded (local auth) mode."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from api.answers.base import ERRORS
from api.answers.operations import (
    METRICS,
    READINESS,
    GuestToken,
    Health,
    Readiness,
    SkippedEvents,
)
from api.auth import new_guest_id
from api.deps import State, client_address, unauthorized
from api.errors import STORE_RETRY_AFTER, not_found
from api.json_body import StrictJsonRoute
from api.metrics import CONTENT_TYPE
from api.operations import refresh_gauges
from api.schemas import GuestIn
from domain.errors import StoreUnavailable

log = logging.getLogger(__name__)
router = APIRouter(route_class=StrictJsonRoute, responses=ERRORS)

READY_LAG = 1000  # events the "my sessions" view may trail the store by and still be ready


@router.get("/healthz", tags=["operations"])
async def healthz() -> Health:
    """Liveness: the process is up."""
    return Health(status="ok")


def _not_ready(answer: Readiness) -> JSONResponse:
    body = answer.model_dump(mode="json", exclude_unset=True)
    return JSONResponse(body, status_code=503, headers=STORE_RETRY_AFTER)


@router.get(
    "/readyz",
    tags=["operations"],
    response_model=Readiness,
    response_model_exclude_unset=True,
    responses=READINESS,
)
def readyz(state: State) -> Readiness | JSONResponse:
    """Readiness: the store answers and the checkpointed views are caught up. Public, so it
    answers states only: the reasons are in the log."""
    if state.circuit is not None and state.circuit.is_open:  # known down: answer at once
        return _not_ready(Readiness(status="unavailable", store="circuit_open"))
    try:
        head = state.sessions.max_position()
    except StoreUnavailable as error:
        log.warning("readiness: the store is unavailable: %r", error.__cause__ or error)
        if state.circuit is not None:
            state.circuit.suspect()
        return _not_ready(Readiness(status="unavailable", store="unavailable"))
    lag = head - state.my_sessions.position
    answer = Readiness(status="ok", position=head, projection_lag=lag)
    # Events a view went past: worth an operator's look, never a reason to go unready.
    views = (state.my_sessions, state.media.index if state.media else None)
    skipped = {
        view.projection.name: SkippedEvents(count=view.skipped, last=view.last_skipped)
        for view in views
        if view is not None and view.skipped
    }
    if skipped:
        answer.projection_skipped = skipped
    failing = state.my_sessions.last_error is not None  # its text is in the log, not here
    if lag > READY_LAG or failing:
        answer.status = "catching_up"
        answer.projection_error = "failing" if failing else None
        return _not_ready(answer)
    return answer


@router.get("/metrics", tags=["operations"], response_class=Response, responses=METRICS)
def metrics(state: State, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text exposition of this instance's metrics; with GAIA_METRICS_TOKEN set, only
    for ``Authorization: Bearer <GAIA_METRICS_TOKEN>`` (a scraper's credential, not a user's)."""
    wanted = state.settings.metrics_token
    if wanted:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), wanted.encode()
        ):
            raise unauthorized("/metrics needs the metrics token")
    refresh_gauges(state)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


@router.post("/api/auth/guest", tags=["auth"])
def guest(body: GuestIn, request: Request, state: State) -> GuestToken:
    """A token for a newcomer without an identity provider (local mode only); limited per
    client address (GAIA_GUEST_SIGNUPS_PER_ADDRESS_PER_HOUR)."""
    if state.local_auth is None:
        raise not_found()
    rates = state.rates
    rates.take(
        "too many guest sign-ups from this address; try again later",
        (rates.guest_signups_per_address, client_address(request, state.settings)),
    )
    user_id = new_guest_id()
    return GuestToken(
        access_token=state.local_auth.issue(user_id, body.display_name),
        user_id=user_id,
    )
