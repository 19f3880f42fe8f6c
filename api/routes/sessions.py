"""Sessions: create, list mine, read one, rename, and read its members."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, status

from api.answers.base import ERRORS, Person
from api.answers.sessions import (
    Members,
    MySessions,
    Origin,
    Renamed,
    Session,
    SessionCreated,
    SessionMember,
)
from api.deps import Caller, Member, MinPosition, Owner, State
from api.errors import ApiError
from api.json_body import StrictJsonRoute
from api.schemas import NewCampaignIn, RenameIn
from api.settings import Settings
from api.state import AppState
from domain.application import DEFAULT_TITLE
from domain.inputs import json_problem
from projections.history import SessionView
from projections.my_sessions import sessions_of

router = APIRouter(tags=["sessions"], route_class=StrictJsonRoute, responses=ERRORS)

AnySession = TypeVar("AnySession", bound=Session)


def members_of(view: SessionView) -> list[SessionMember]:
    return [
        SessionMember(user_id=user_id, display_name=m["display_name"], role=m["role"])
        for user_id, m in view.members.items()
    ]


def origin_of(view: SessionView) -> Origin:
    """Where the session came from; only the keys its kind has are set."""
    keys = ("parent_id", "at_version", "legacy_id")
    return Origin(
        kind=view.origin.get("kind", "new"), **{k: view.origin[k] for k in keys if k in view.origin}
    )


def session_doc(
    answer: type[AnySession], view: SessionView, my_role: str, position: int, **more: Any
) -> AnySession:
    """``view`` as ``GET /api/sessions/{sid}`` answers it, as an ``answer`` with ``more``."""
    owner = view.members.get(view.owner or "")
    return answer(
        session_id=str(view.session_id),
        title=view.title,
        owner=Person(
            user_id=view.owner, display_name=owner["display_name"] if owner else view.owner
        )
        if view.owner
        else None,
        my_role=my_role,
        members=members_of(view),
        version=view.version,
        position=position,
        created_at=view.created_at,
        origin=origin_of(view),
        **more,
    )


def count_new_session(state: AppState, user_id: str) -> None:
    """New campaigns and forks share one quota per user (GAIA_SESSIONS_PER_USER_PER_HOUR)."""
    rates = state.rates
    rates.take("too many new sessions; try again later", (rates.sessions_per_user, user_id))


def check_settings(settings: dict[str, Any] | None, limits: Settings) -> None:
    """Campaign settings within GAIA_MAX_JSON_DEPTH and GAIA_MAX_SETTINGS_BYTES, else 422."""
    check_json_limits(settings, limits, "settings")


def check_json_limits(value: Any, limits: Settings, field: str) -> None:
    """Free JSON a client sends (settings, a character's inventory) within
    GAIA_MAX_JSON_DEPTH and GAIA_MAX_SETTINGS_BYTES, else 422 ``<field>_too_deep`` or
    ``<field>_too_large``."""
    if value is None:
        return
    depth = limits.max_json_depth
    if json_problem(value, max_depth=depth):
        raise ApiError(
            422, f"{field}_too_deep", f"{field} may nest at most {depth} levels", limit=depth
        )
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > limits.max_settings_bytes:
        raise ApiError(
            422,
            f"{field}_too_large",
            f"{field} may take at most {limits.max_settings_bytes} bytes as JSON",
            limit=limits.max_settings_bytes,
            size=size,
        )


@router.post("/api/campaigns/new", status_code=status.HTTP_201_CREATED)
def create_campaign(
    caller: Caller, state: State, body: NewCampaignIn | None = None
) -> SessionCreated:
    body = body or NewCampaignIn()
    check_settings(body.settings, state.settings)
    count_new_session(state, caller.user_id)
    written = state.sessions.start_session(
        owner=caller.user_id,
        owner_name=caller.display_name,
        title=body.title,
        settings=body.settings,
    )
    return SessionCreated(
        session_id=str(written.session_id),
        title=body.title or DEFAULT_TITLE,
        version=written.version,
        position=written.position,
    )


@router.get("/api/sessions")
async def my_sessions(caller: Caller, state: State, min_position: MinPosition = None) -> MySessions:
    if min_position is not None:  # on the event loop: waiting requests hold no thread
        await state.my_sessions.wait_until(min_position, state.settings.read_barrier_seconds)

    def read() -> MySessions:
        # The position first: the view commits rows before it moves its position, so the
        # rows read next reflect at least this much, and the answer never claims more.
        position = state.my_sessions.position
        with state.view_database.transaction() as cur:
            return MySessions(sessions=sessions_of(cur, caller.user_id), position=position)

    return await to_thread.run_sync(read)


@router.get("/api/sessions/{sid}", response_model_exclude_unset=True)
def read_session(access: Member, state: State) -> Session:
    return session_doc(Session, access.view, access.role, state.sessions.max_position())


@router.patch("/api/sessions/{sid}")
def rename_session(body: RenameIn, access: Owner, state: State) -> Renamed:
    written = state.sessions.rename(
        session_id=access.session_id, actor=access.caller.user_id, title=body.title
    )
    return Renamed(
        session_id=str(access.session_id),
        title=body.title,
        version=written.version,
        position=written.position,
    )


@router.get("/api/sessions/{sid}/members")
def list_members(access: Member) -> Members:
    return Members(members=members_of(access.view), version=access.view.version)
