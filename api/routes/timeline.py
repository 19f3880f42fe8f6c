"""A session's timeline: the audit trail of stored events, the session as it was at any version,
the hash-chained export and the public key its trailer is signed with, rewinding, and forking a
new session from any quiet version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from api.answers.base import ERRORS, Written
from api.answers.timeline import (
    NDJSON,
    ExportKey,
    Forked,
    SessionAt,
    Timeline,
    export_answer,
)
from api.deps import Member, Owner, State
from api.errors import ApiError
from api.json_body import StrictJsonRoute
from api.routes.campaign import campaign_doc
from api.routes.sessions import count_new_session, origin_of, session_doc
from api.schemas import ForkIn, RewindIn
from domain.adapters.event_store import position_of
from projections.export import FORMAT, export_bytes
from projections.history import SessionView
from projections.records import shown_to
from projections.timeline import EVENT_TOPICS, session_at, timeline_page

router = APIRouter(tags=["timeline"], route_class=StrictJsonRoute, responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items")]


def _types(types: str | None) -> frozenset[str] | None:
    names = frozenset(name.strip() for name in (types or "").split(",") if name.strip())
    if not names:
        return None
    unknown = sorted(names - EVENT_TOPICS.keys())
    if unknown:
        raise ApiError(
            422,
            "unknown_event_type",
            "types lists event types that do not exist",
            unknown=unknown,
            known=sorted(EVENT_TOPICS),
        )
    return names


@router.get("/api/sessions/{sid}/timeline")
def timeline(
    access: Member,
    state: State,
    after: Annotated[
        int, Query(ge=0, le=2**62, description="only events with a greater version")
    ] = 0,
    limit: Limit = 100,
    types: Annotated[
        str | None, Query(max_length=2000, description="comma-separated event type names")
    ] = None,
) -> Timeline:
    """Every stored event in version order, rewound ones included (this is the audit trail).
    Invite events carry only their ``invite_id`` for anyone but the owner.

    ``hidden`` lists the version ranges that rewinds hide from the history. A page filtered by
    ``types`` may hold fewer than ``limit`` events: keep paging while ``next_after`` is set.
    """
    wanted = _types(types)
    events, next_after = timeline_page(
        state.sessions, access.session_id, after=after, limit=limit, types=wanted
    )
    return Timeline(
        events=[shown_to(record, access.role) for record in events],
        next_after=next_after,
        version=access.view.version,
        hidden=access.view.hidden,
    )


@router.get("/api/sessions/{sid}/state", response_model_exclude_unset=True)
def state_at(
    access: Member,
    state: State,
    at_version: Annotated[
        int, Query(ge=-(2**62), le=2**62, description="the version to look at, 1..current")
    ],
    after: Annotated[
        int | None, Query(ge=-(2**62), le=2**62, description="history after this version")
    ] = None,
    limit: Limit = 100,
    history: Annotated[bool, Query(description="false: no history page")] = True,
    campaign: Annotated[bool, Query(description="false: no campaign state")] = True,
) -> SessionAt:
    """The session (title, owner, members and their roles), its campaign state (as
    ``GET .../campaign`` answers it) and a page of its history exactly as they were at
    ``at_version``. ``my_role`` is the caller's role now."""
    current = access.view.version
    if not 1 <= at_version <= current:
        raise ApiError(
            422,
            "version_out_of_range",
            f"at_version must be between 1 and the session's version {current}",
            at_version=at_version,
            current_version=current,
        )
    sid = access.session_id
    position = position_of(state.sessions.recorder, sid, at_version) or 0

    def answer(then: SessionView) -> SessionAt:
        more: dict[str, Any] = {"current_version": current}
        if campaign:
            more["campaign"] = campaign_doc(then)
        if history:
            more["messages"], more["next_after"] = then.history_page(after, limit)
        return session_doc(SessionAt, then, access.role, position, **more)

    if not (history or campaign):  # title and members only: the aggregate's, from a snapshot
        return answer(session_at(state.sessions, sid, at_version))
    # The fold's title and members are the aggregate's (test_timeline_reading checks it). At
    # the head the live view already holds the answer; an older version is a new fold.
    if at_version == current:
        return answer(access.view)
    return state.views.read_at(sid, at_version, answer)


@router.get(
    "/api/sessions/{sid}/export",
    response_class=StreamingResponse,
    responses=export_answer(f"an NDJSON {FORMAT} export"),
)
def export(access: Member, state: State) -> StreamingResponse:
    """Every stored event up to the current version with a SHA-256 hash chain, streamed page by
    page, the trailer signed (Ed25519) with the key of ``GET /api/export-key``;
    ``python -m api verify-export FILE --public-key KEY`` (or docs/export.md) checks a file.
    Invite events carry only their ``invite_id`` in anyone's export but the owner's."""
    view = access.view
    blocks = export_bytes(
        state.sessions,
        access.session_id,
        title=view.title,
        until=view.version,
        exported_at=state.sessions.clock().isoformat(),
        signer=state.export_signer,
        role=access.role,
    )
    filename = f"gaia-{access.session_id}-v{view.version}.ndjson"
    return StreamingResponse(
        blocks,
        media_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/api/export-key")
async def export_key(state: State) -> ExportKey:
    """The public key that export trailers are signed with: ``key_id`` (named in each trailer),
    ``algorithm`` (Ed25519), ``public_key`` (base64 of the raw 32 bytes) and ``pem``. Public:
    an auditor needs it to check an export, and it reveals nothing about any session."""
    return ExportKey(**state.export_signer.public_doc())


@router.post("/api/sessions/{sid}/rewind")
def rewind(body: RewindIn, access: Owner, state: State) -> Written:
    """Hide everything after ``to_version`` from the history; the timeline keeps it."""
    written = state.sessions.rewind(
        session_id=access.session_id, actor=access.caller.user_id, to_version=body.to_version
    )
    return Written(version=written.version, position=written.position)


@router.post(
    "/api/sessions/{sid}/fork",
    status_code=status.HTTP_201_CREATED,
    response_model_exclude_unset=True,
)
def fork(access: Member, state: State, body: ForkIn | None = None) -> Forked:
    """A new session owned by the caller whose history starts as this one's at ``at_version``."""
    body = body or ForkIn()
    caller = access.caller
    count_new_session(state, caller.user_id)
    written = state.sessions.fork(
        session_id=access.session_id,
        actor=caller.user_id,
        actor_name=caller.display_name,
        at_version=body.at_version,
        title=body.title,
    )
    view = state.views.get(written.session_id)
    return Forked(
        session_id=str(view.session_id),
        title=view.title,
        version=written.version,
        position=written.position,
        origin=origin_of(view),
    )
