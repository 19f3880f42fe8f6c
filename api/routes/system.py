"""Health, readiness, metrics and the guest sign-in of the embedded (local auth) mode."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from api.auth import new_guest_id
from api.deps import State, client_address, unauthorized
from api.errors import STORE_RETRY_AFTER, not_found
from api.json_body import StrictJsonRoute
from api.metrics import CONTENT_TYPE
from api.operations import refresh_gauges
from api.schemas import GuestIn
from domain.errors import StoreUnavailable

log = logging.getLogger(__name__)
router = APIRouter(route_class=StrictJsonRoute)

READY_LAG = 1000  # events the "my sessions" view may trail the store by and still be ready


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"])
def readyz(state: State) -> JSONResponse:
    """Readiness: the store answers and the checkpointed views are caught up. Public, so it
    answers states only: the reasons are in the log."""
    if state.circuit is not None and state.circuit.is_open:  # known down: answer at once
        return JSONResponse(
            {"status": "unavailable", "store": "circuit_open"},
            status_code=503,
            headers=STORE_RETRY_AFTER,
        )
    try:
        head = state.sessions.max_position()
    except StoreUnavailable as error:
        log.warning("readiness: the store is unavailable: %r", error.__cause__ or error)
        if state.circuit is not None:
            state.circuit.suspect()
        return JSONResponse(
            {"status": "unavailable", "store": "unavailable"},
            status_code=503,
            headers=STORE_RETRY_AFTER,
        )
    lag = head - state.my_sessions.position
    body: dict[str, Any] = {"status": "ok", "position": head, "projection_lag": lag}
    # Events a view went past: worth an operator's look, never a reason to go unready.
    updaters = (state.my_sessions, state.media.index if state.media else None)
    skipped = {
        updater.view.name: {"count": updater.skipped, "last": updater.last_skipped}
        for updater in updaters
        if updater is not None and updater.skipped
    }
    if skipped:
        body["projection_skipped"] = skipped
    failing = state.my_sessions.last_error is not None  # its text is in the log, not here
    if lag > READY_LAG or failing:
        body |= {"status": "catching_up", "projection_error": "failing" if failing else None}
        return JSONResponse(body, status_code=503, headers=STORE_RETRY_AFTER)
    return JSONResponse(body)


@router.get("/metrics", tags=["operations"], response_class=Response)
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
def guest(body: GuestIn, request: Request, state: State) -> dict[str, str]:
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
    return {
        "access_token": state.local_auth.issue(user_id, body.display_name),
        "token_type": "bearer",
        "user_id": user_id,
    }
