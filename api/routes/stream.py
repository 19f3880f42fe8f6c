"""Live streams: a session's events as server-sent events, and the tickets EventSource needs.

Every refusal is a plain JSON error answered before the stream starts, because a browser stops
reconnecting only on a non-200: 401 (no or bad credentials), 404 (not a member, no such
session), 409 ``cursor_ahead`` (a cursor past the stream's end). An outage of the store is not a
refusal: that answer is a 200 with a ``retry:`` hint (``api.errors.store_unavailable``).
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Header, Query

from api.answers.base import ERRORS, ErrorAnswer, Ticket
from api.deps import Member, State, StreamMember
from api.errors import ApiError
from api.live import DELTA_EVENT, EventStream, Live
from api.live.response import StreamResponse
from api.state import AppState
from projections.timeline import EVENT_TOPICS

router = APIRouter(tags=["live"], responses=ERRORS)

# Stored event types, as sent in ``event:`` (and repeated in the data as ``type``).
EVENT_NAMES: Final = sorted(EVENT_TOPICS)

STREAM_DESCRIPTION = f"""Server-sent events (`text/event-stream`) of one session, for members.

Each stored event is one message: `id:` its version, `event:` its type, `data:` its JSON
record `{{version, type, recorded_at, occurred_at, actor, data}}` (the timeline's shape; as
there, invite events carry only `{{invite_id}}` in their data for anyone but the owner). On
connect the stream replays every event after the `Last-Event-ID` header, else after `?after=`
(default 0: from the start), then goes live; each version arrives exactly once, in order.

A browser delivers a named event only to a listener for that exact name, so listen to each of:
{", ".join(f"`{name}`" for name in EVENT_NAMES)}.

While a narration streams, `{DELTA_EVENT}` messages carry `{{turn_id, text}}` pieces of the
narrative. They have no `id`, are never replayed and only preview the stored
`NarrationCompleted` (a browser repeats the previous id on them: do not deduplicate by it).
Comment lines are heartbeats. On shutdown the server ends the stream with a `retry:` hint;
reconnect with `Last-Event-ID`. A member who is removed has the stream ended.

Credentials: `Authorization: Bearer`, or `?ticket=` from `POST .../stream-ticket` (EventSource
cannot send headers; a ticket is reusable for 60 s, so reconnections work). Access tokens are
refused in the URL. Refusals come before the stream, as JSON errors: 401 no or bad credentials,
404 not a member, 409 `cursor_ahead` when the cursor is past the stream's last version, 429
`rate_limited` when the caller (or this instance) has too many streams open.
While the event store is out of reach the answer is a 200 holding only a `retry:` hint (no
event), so that EventSource reconnects, and resumes, once it is back.
"""


def _live(state: AppState) -> Live:
    return state.live


def _cursor(last_event_id: str | None, after: int | None) -> int:
    # A reconnecting browser sends Last-Event-ID to the URL it first opened, ?after= included:
    # the header is the newer cursor.
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        # ASCII digits only (str.isdigit also takes "²"); 18 of them fit in a signed 64-bit int.
        if not (value.isascii() and value.isdigit()) or len(value) > 18:  # noqa: PLR2004
            raise ApiError(
                422, "invalid_cursor", "Last-Event-ID must be an event version", value=value[:40]
            )
        return int(value)
    return after or 0


@router.get(
    "/api/sessions/{sid}/events",
    description=STREAM_DESCRIPTION,
    response_class=StreamResponse,
    responses={
        200: {
            "description": "the event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorAnswer, "description": "no or bad credentials"},
        404: {"model": ErrorAnswer, "description": "not a member, or no such session"},
        409: {
            "model": ErrorAnswer,
            "description": "`cursor_ahead`: the cursor is past the stream's last version",
        },
        429: {
            "model": ErrorAnswer,
            "description": "`rate_limited`: too many open streams (per user or instance)",
        },
    },
)
async def events(
    state: State,
    access: StreamMember,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64, description="resume after it")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**62, description="resume after this version")
    ] = None,
) -> StreamResponse:
    live = _live(state)
    view, sid, caller = access.view, access.session_id, access.caller
    cursor = _cursor(last_event_id, after)
    if cursor > view.version:
        raise ApiError(
            409,
            "cursor_ahead",
            "the cursor is past the stream's last version",
            cursor=cursor,
            version=view.version,
        )
    settings = state.settings
    # Last, so that nothing can refuse the stream once it holds a slot: the response frees it.
    slot = state.stream_slots.acquire(caller.user_id)
    stream = EventStream(
        live.hub,
        sid,
        caller.user_id,
        role=access.role,
        after=cursor,
        member_at=view.version,
        max_seconds=settings.stream_max_seconds,
        heartbeat_s=settings.stream_heartbeat_seconds,
    )
    return StreamResponse(
        stream.messages(), streams=live.hub.streams, slot=slot, shutdown_hint=stream.shutdown_hint
    )


@router.post("/api/sessions/{sid}/stream-ticket")
def stream_ticket(access: Member, state: State) -> Ticket:
    """A 60 s ticket for `GET .../events?ticket=`: bound to the caller and this session,
    reusable until it expires (EventSource reconnects to the same URL)."""
    tickets = _live(state).tickets
    caller = access.caller
    ticket = tickets.issue(caller.user_id, caller.display_name, str(access.session_id))
    return Ticket(ticket=ticket, expires_in=tickets.ttl_s)
