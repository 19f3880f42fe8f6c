"""Sharing: invite links (issue, list, revoke, accept), the web client's share/join aliases,
and members (change a role, remove or block, leave)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from api.answers.base import ERRORS
from api.answers.sharing import InviteCreated, Invites, Joined, RoleChanged, Shared
from api.auth import Principal
from api.deps import (
    Caller,
    Member,
    Owner,
    SessionAccess,
    State,
    authorize,
    client_address,
    parse_id,
)
from api.json_body import StrictJsonRoute
from api.schemas import AcceptIn, InviteIn, JoinIn, RoleIn, ShareIn
from api.settings import Settings
from domain.roles import Role

router = APIRouter(tags=["sharing"], route_class=StrictJsonRoute, responses=ERRORS)

UserId = Annotated[str, Path(min_length=1, max_length=200)]


def invite_url(request: Request, settings: Settings, token: str) -> str:
    base = settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/join/{token}"


def _issue(request: Request, state: State, access: SessionAccess, body: InviteIn) -> InviteCreated:
    expires_in = body.expires_in_s or state.settings.invite_default_expiry_seconds
    created = state.sessions.issue_invite(
        session_id=access.session_id,
        actor=access.caller.user_id,
        role=body.role,
        expires_in=timedelta(seconds=expires_in),
        max_uses=body.max_uses,
    )
    return InviteCreated(
        invite_id=str(created.invite_id),
        token=created.token,
        url=invite_url(request, state.settings, created.token),
        role=created.role,
        expires_at=created.expires_at.isoformat() if created.expires_at else None,
        max_uses=created.max_uses,
        version=created.version,
        position=created.position,
    )


@router.post("/api/sessions/{sid}/invites", status_code=status.HTTP_201_CREATED)
def create_invite(body: InviteIn, request: Request, access: Owner, state: State) -> InviteCreated:
    """An invite link: the token is shown once, only its SHA-256 is stored."""
    return _issue(request, state, access, body)


@router.get("/api/sessions/{sid}/invites")
def list_invites(access: Owner) -> Invites:
    return Invites(invites=list(access.view.invites.values()))


@router.delete("/api/sessions/{sid}/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_invite(
    access: Owner, state: State, invite_id: Annotated[str, Path(max_length=64)]
) -> Response:
    state.sessions.revoke_invite(
        session_id=access.session_id,
        actor=access.caller.user_id,
        invite_id=parse_id(invite_id),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _accept(request: Request, state: State, caller: Principal, token: str) -> Joined:
    rates = state.rates
    rates.take(
        "too many invite attempts; try again later",
        (rates.invite_accepts_per_address, client_address(request, state.settings)),
        (rates.invite_accepts_per_user, caller.user_id),
    )
    joined = state.sessions.accept_invite(
        token=token, user_id=caller.user_id, display_name=caller.display_name
    )
    return Joined(
        session_id=str(joined.session_id),
        role=joined.role,
        version=joined.version,
        position=joined.position,
    )


@router.post("/api/invites/accept")
def accept_invite(body: AcceptIn, request: Request, caller: Caller, state: State) -> Joined:
    """Join a session through an invite; any invalid token gets the same 404 ``invite_invalid``."""
    return _accept(request, state, caller, body.token)


@router.post("/api/sessions/share")
def share(body: ShareIn, request: Request, caller: Caller, state: State) -> Shared:
    """The web client's alias for creating an invite; answers ``invite_token`` too, with 200
    (not the 201 of ``POST .../invites``: the existing web client expects 200)."""
    session_id = parse_id(body.session_id)
    access = authorize(state, caller, session_id, Role.OWNER)
    created = _issue(request, state, access, body)
    return Shared(**created.model_dump(), invite_token=created.token, session_id=str(session_id))


@router.post("/api/sessions/join")
def join(body: JoinIn, request: Request, caller: Caller, state: State) -> Joined:
    """The web client's alias for accepting an invite."""
    return _accept(request, state, caller, body.invite_token)


@router.patch("/api/sessions/{sid}/members/{user_id}")
def change_role(body: RoleIn, user_id: UserId, access: Owner, state: State) -> RoleChanged:
    written = state.sessions.change_role(
        session_id=access.session_id, actor=access.caller.user_id, user_id=user_id, role=body.role
    )
    return RoleChanged(
        user_id=user_id, role=body.role, version=written.version, position=written.position
    )


@router.delete("/api/sessions/{sid}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    user_id: UserId,
    access: Member,
    state: State,
    block: Annotated[bool, Query(description="also refuse every future invite")] = False,
) -> Response:
    """The owner removes (and may block) a member; ``me`` leaves the session. Who may do which
    is the session's rule (a member below the owner role gets its 403)."""
    target = access.caller.user_id if user_id == "me" else user_id
    state.sessions.remove_member(
        session_id=access.session_id, actor=access.caller.user_id, user_id=target, block=block
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
