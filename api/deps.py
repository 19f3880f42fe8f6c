"""FastAPI dependencies: the app's objects, the caller, and the caller's access to a session.

Authorization is here, once: a non-member gets 404 for every session-scoped route, a member
below the route's role gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Path, Request

from api.auth import AuthError, JwksUnavailable, Principal
from api.errors import ApiError, not_found
from api.state import AppState
from domain import roles
from projections.history import SessionView


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gaia
    return state


State = Annotated[AppState, Depends(get_state)]

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


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


def parse_id(value: str, what: str = "resource") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise not_found(what) from None


def session_id(sid: Annotated[str, Path(max_length=64)]) -> UUID:
    return parse_id(sid, "session")


@dataclass(frozen=True)
class SessionAccess:
    session_id: UUID
    view: SessionView
    role: str
    caller: Principal


def authorize(state: AppState, caller: Principal, sid: UUID, needed: str) -> SessionAccess:
    """The one access rule: a non-member gets 404, a member below ``needed`` gets 403."""
    view = state.views.get(sid)
    role = view.role_of(caller.user_id)
    if role is None:
        raise ApiError(404, "session_not_found", "session not found")
    if not roles.at_least(role, needed):
        raise ApiError(403, "forbidden", f"this needs the {needed} role", needed=needed)
    return SessionAccess(sid, view, role, caller)


def _access(needed: str) -> Any:
    def check(
        state: State, caller: Caller, sid: Annotated[UUID, Depends(session_id)]
    ) -> SessionAccess:
        return authorize(state, caller, sid, needed)

    return Depends(check)


Member = Annotated[SessionAccess, _access(roles.SPECTATOR)]
Player = Annotated[SessionAccess, _access(roles.PLAYER)]
Owner = Annotated[SessionAccess, _access(roles.OWNER)]
