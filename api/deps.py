"""FastAPI dependencies: the app's objects, the caller, and the caller's access to a session.

Authorization is here, once: a non-member gets 404 for every session-scoped route (the same
bytes as for a session that does not exist), a member below the route's role gets 403. What a
browser loads without headers (EventSource, ``<img>``, ``<audio>``) may instead carry a ticket in
the URL (a stream ticket for streams, a media ticket for media), which opens that one session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from anyio import to_thread
from fastapi import Depends, Header, Path, Query, Request

from api.auth import AuthError, JwksUnavailable, Principal
from api.errors import ApiError, not_found
from api.settings import Settings
from api.state import AppState
from domain import roles
from projections.history import SessionView


# The dependencies that only look at the request are ``async``: FastAPI runs a plain ``def``
# dependency in its thread pool, and each such hop costs more than the lookup itself.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gaia
    return state


State = Annotated[AppState, Depends(get_state)]

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}
# Query parameters a client might put an access token in: refused, since URLs end up in logs.
URL_TOKEN_PARAMETERS = ("access_token", "token")


def client_address(request: Request, settings: Settings) -> str:
    """The caller's address, for limits per address: the peer, or with
    GAIA_TRUST_PROXY_HEADERS the last X-Forwarded-For hop."""
    if settings.trust_proxy_headers:
        forwarded = request.headers.get("X-Forwarded-For", "")
        # Cloud Run's front end appends the real client last; earlier entries are the client's say.
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.client.host if request.client else "unknown"


def unauthorized(message: str = "a valid bearer token is required") -> ApiError:
    return ApiError(401, "unauthorized", message, headers=UNAUTHORIZED_HEADERS)


async def current_principal(
    state: State, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    try:
        return await state.authenticator.authenticate(token.strip())
    except JwksUnavailable as error:
        # The token was never judged: the identity provider's keys are out of reach. A 401
        # would make clients throw away good tokens.
        raise ApiError(
            503, "auth_unavailable", "cannot verify tokens right now", headers={"Retry-After": "30"}
        ) from error
    except AuthError as error:
        raise unauthorized("the bearer token is not valid") from error


Caller = Annotated[Principal, Depends(current_principal)]


async def _min_position(
    state: State,
    min_position: Annotated[
        int | None, Query(ge=0, description="wait until views include this position")
    ] = None,
) -> int | None:
    """A read's ``min_position``; past the store's head it is refused 409 ``position_ahead`` at
    once: no write has that position yet, so waiting for it would only hold the request."""
    if min_position is None or min_position <= state.my_sessions.position:
        return min_position  # the views already include it, so the store does too
    head = await to_thread.run_sync(state.sessions.max_position)
    if min_position > head:
        raise ApiError(
            409, "position_ahead", "min_position is past the store's last position", head=head
        )
    return min_position


MinPosition = Annotated[int | None, Depends(_min_position)]


def parse_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise not_found() from None


async def session_id(sid: Annotated[str, Path(max_length=64)]) -> UUID:
    return parse_id(sid)


@dataclass(frozen=True)
class SessionAccess:
    session_id: UUID
    view: SessionView
    role: str
    caller: Principal


def authorize(state: AppState, caller: Principal, sid: UUID, needed: str) -> SessionAccess:
    """The one access rule: a non-member gets 404, a member below ``needed`` gets 403.

    The 404 is ``not_found()`` whether the session exists or not (``SessionNotFound`` answers
    the same body), so a non-member learns nothing from it."""
    view = state.views.get(sid)
    return SessionAccess(sid, view, _required(view.role_of(caller.user_id), needed), caller)


def _required(role: str | None, needed: str) -> str:
    if role is None:
        raise not_found()
    if not roles.at_least(role, needed):
        raise ApiError(403, "forbidden", f"this needs the {needed} role", needed=needed)
    return role


@dataclass(frozen=True)
class Acting:
    """A caller allowed to write to a session, by the same rule as ``authorize``; for routes
    that do not read the session's view, which is then not copied."""

    session_id: UUID
    role: str
    caller: Principal


async def _acting(
    state: State, caller: Caller, sid: Annotated[UUID, Depends(session_id)]
) -> Acting:
    """A player's write, let through on the view this process holds when it says so: the
    write itself checks the role again on the stored session (``SessionState.require``, with
    the same answers), so a view behind a demotion cannot let it in. Any other answer is
    read from a view caught up to the stream's head, in a worker thread."""

    def role_of(view: SessionView) -> str | None:
        return view.role_of(caller.user_id)

    role = state.views.cached(sid, role_of)
    if role is None or not roles.at_least(role, roles.PLAYER):
        role = await to_thread.run_sync(state.views.read, sid, role_of)
    return Acting(sid, _required(role, roles.PLAYER), caller)


ActingPlayer = Annotated[Acting, Depends(_acting)]


def _access(needed: str) -> Any:
    def check(
        state: State, caller: Caller, sid: Annotated[UUID, Depends(session_id)]
    ) -> SessionAccess:
        return authorize(state, caller, sid, needed)

    return Depends(check)


Member = Annotated[SessionAccess, _access(roles.SPECTATOR)]
Player = Annotated[SessionAccess, _access(roles.PLAYER)]
Owner = Annotated[SessionAccess, _access(roles.OWNER)]


@dataclass(frozen=True)
class UrlCaller:
    """A caller from a bearer header, or from a session ticket in the URL; a ticket names the
    one session it opens (``ticket_session``), and membership is still checked."""

    principal: Principal
    ticket_session: str | None = None

    def may_open(self, sid: UUID | str) -> bool:
        return self.ticket_session is None or self.ticket_session == str(sid)


AuthorizationHeader = Annotated[str | None, Header(alias="Authorization")]
UrlTicket = Annotated[
    str | None,
    Query(
        alias="ticket",
        max_length=4096,
        description="a ticket from POST .../stream-ticket (streams) or .../media-ticket (media)",
    ),
]


async def _url_caller(
    kind: str, request: Request, state: AppState, authorization: str | None, ticket: str | None
) -> UrlCaller:
    """The caller, from a bearer header or a ``kind`` ticket in the URL."""
    if any(name in request.query_params for name in URL_TOKEN_PARAMETERS):
        raise unauthorized(f"access tokens are not accepted in URLs; use a {kind} ticket")
    if authorization is not None or ticket is None:
        return UrlCaller(await current_principal(state, authorization))
    tickets = state.live.tickets if kind == "stream" else state.live.media_tickets
    try:
        principal, session = tickets.read(ticket)
    except AuthError as error:
        raise unauthorized(f"the {kind} ticket is not valid") from error
    return UrlCaller(principal, session)


async def stream_caller(
    request: Request,
    state: State,
    authorization: AuthorizationHeader = None,
    ticket: UrlTicket = None,
) -> UrlCaller:
    return await _url_caller("stream", request, state, authorization, ticket)


async def media_caller(
    request: Request,
    state: State,
    authorization: AuthorizationHeader = None,
    ticket: UrlTicket = None,
) -> UrlCaller:
    return await _url_caller("media", request, state, authorization, ticket)


def _opened(state: AppState, caller: UrlCaller, sid: UUID) -> SessionAccess:
    if not caller.may_open(sid):
        raise unauthorized("the ticket is not valid for this session")
    return authorize(state, caller.principal, sid, roles.SPECTATOR)


def _stream_member(
    state: State,
    caller: Annotated[UrlCaller, Depends(stream_caller)],
    sid: Annotated[UUID, Depends(session_id)],
) -> SessionAccess:
    return _opened(state, caller, sid)


def _media_member(
    state: State,
    caller: Annotated[UrlCaller, Depends(media_caller)],
    sid: Annotated[UUID, Depends(session_id)],
) -> SessionAccess:
    return _opened(state, caller, sid)


# A member, by bearer header or by a ticket for this session in the URL (EventSource, <img>
# and <audio> cannot send headers).
StreamMember = Annotated[SessionAccess, Depends(_stream_member)]
MediaMember = Annotated[SessionAccess, Depends(_media_member)]
