"""Media: upload an image or audio file into a session, and serve stored media to its members
(by id, or by file name for the existing web client), with ETags, ranges and signed URLs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Final
from uuid import UUID

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from api.answers.base import ERRORS, Ticket
from api.answers.media import IMAGE_BYTES, MEDIA_BYTES, MediaStored
from api.auth import Principal
from api.deps import (
    MediaMember,
    Member,
    Player,
    SessionAccess,
    State,
    UrlCaller,
    authorize,
    media_caller,
    parse_id,
)
from api.errors import ApiError, not_found
from api.media.ranges import (
    Unsatisfiable,
    none_match,
    parse_range,
    range_applies,
    strong_etag,
)
from api.media.service import Media, Saved
from api.media.upload import SpooledUpload, UploadAborted, read_upload
from api.ratelimit import rate_limited
from api.state import AppState
from domain import roles
from domain.application import SessionNotFound
from domain.media import InvalidDigest, storage_key
from domain.session import MEDIA_KINDS
from projections.history import SessionView
from projections.media_index import IndexedMedia

log = logging.getLogger(__name__)

router = APIRouter(tags=["media"], responses=ERRORS)

# A served file never runs as a page and is never second-guessed into another type.
SAFE_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
    "Accept-Ranges": "bytes",
}
# Stored bytes free up only when an operator removes media: clients need not ask again soon.
STORED_BYTES_RETRY_AFTER_S: Final = 3600
# Names /api/images may look up: no separators, no control characters, no leading dot.
_FILENAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+()@=, -]{0,199}")

UPLOAD_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": sorted(MEDIA_KINDS)},
                    },
                }
            }
        },
    }
}


def get_media(state: State) -> Media:
    return state.media


MediaService = Annotated[Media, Depends(get_media)]
Kind = Annotated[str, Path(max_length=16)]
MediaId = Annotated[str, Path(max_length=64)]
FileName = Annotated[str, Path(max_length=255)]


@dataclass(frozen=True)
class Served:
    """What serving needs to know about one stored item (an index row has it all too)."""

    media_id: str
    kind: str
    content_type: str
    size: int
    sha256: str
    storage_key: str
    filename: str


def media_url(session_id: UUID | str, kind: str, media_id: UUID | str) -> str:
    return f"/api/media/{session_id}/{kind}/{media_id}"


@router.post(
    "/api/sessions/{sid}/media", status_code=status.HTTP_201_CREATED, openapi_extra=UPLOAD_BODY
)
async def upload_media(
    request: Request, access: Player, media: MediaService, state: State
) -> MediaStored:
    """Upload one image or audio file (field ``file``; ``kind`` optional). Its bytes decide its
    type: PNG, JPEG, WebP, GIF, MP3, OGG or WAV, else 415; a claim of the other kind (field,
    content type or file name) 422; over GAIA_MAX_UPLOAD_BYTES 413, refused while streaming; an
    image whose header claims more than GAIA_MAX_IMAGE_PIXELS pixels 422 ``image_too_large``.
    Quotas (429 ``rate_limited``): uploads per user and per session, stored bytes per session."""
    rates = state.rates
    quotas = (
        (rates.uploads_per_session, str(access.session_id)),
        (rates.uploads_per_user, access.caller.user_id),
    )
    rates.take("too many uploads; try again later", *quotas)
    try:
        saved, upload = await _store_upload(request, access, media, state)
    except BaseException:
        rates.give_back(*quotas)  # nothing was stored
        raise
    media.uploads.count("stored")
    kind = upload.media_type.kind
    return MediaStored(
        media_id=str(saved.media_id),
        kind=kind,
        content_type=upload.media_type.content_type,
        size=upload.size,
        sha256=upload.sha256,
        url=media_url(access.session_id, kind, saved.media_id),
        filename=saved.filename,
        version=saved.written.version,
        position=saved.written.position,
    )


async def _store_upload(
    request: Request, access: SessionAccess, media: Media, state: AppState
) -> tuple[Saved, SpooledUpload]:
    """Read the upload and record it, within the session's stored-bytes cap."""
    _require_space(state, access.view, 1)  # a full session: refused before reading the body
    try:
        upload = await read_upload(
            request,
            limit=media.settings.max_upload_bytes,
            staging_dir=media.store.staging_dir(),
            max_image_pixels=media.settings.max_image_pixels,
        )
    except UploadAborted:
        media.uploads.count("aborted")
        raise ApiError(400, "upload_incomplete", "the upload was cut off") from None
    except ApiError:
        media.uploads.count("refused")
        raise
    try:
        # Checked again on the view as it is now: other uploads may have landed meanwhile.
        view = await to_thread.run_sync(lambda: state.views.get(access.session_id))
        _require_space(state, view, upload.size)
        saved = await to_thread.run_sync(
            lambda: media.save(
                session_id=access.session_id,
                actor=access.caller.user_id,
                media_type=upload.media_type,
                sha256=upload.sha256,
                size=upload.size,
                source="upload",
                path=upload.path,
            )
        )
    except BaseException:
        media.uploads.count("refused")
        raise
    finally:
        upload.path.unlink(missing_ok=True)
    return saved, upload


def _require_space(state: AppState, view: SessionView, size: int) -> None:
    """Refuse bytes past GAIA_MEDIA_BYTES_PER_SESSION, counted from the session's view (built
    from the store, so the cap holds across instances)."""
    cap = state.settings.media_bytes_per_session
    if not state.settings.quotas_enabled:
        return
    stored = sum(int(item["size"]) for item in view.media.values())
    if stored + size > cap:
        raise rate_limited(
            "media_bytes_per_session",
            STORED_BYTES_RETRY_AFTER_S,
            "this session has no room for more media",
            max=cap,
            stored=stored,
        )


def find_media(view: SessionView, kind: str, media_id: str) -> Served:
    """The session's item, or one its fork point inherited; any mismatch is a plain 404."""
    wanted = str(parse_id(media_id))
    item = view.media.get(wanted) or _inherited(view, wanted)
    if item is None or kind not in MEDIA_KINDS or item["kind"] != kind:
        raise not_found()
    try:
        # Inherited items carry no key; keys are a function of the bytes, so it is the same.
        key = item.get("storage_key") or storage_key(item["sha256"])
    except InvalidDigest:
        raise not_found() from None
    return Served(
        media_id=wanted,
        kind=item["kind"],
        content_type=item["content_type"],
        size=int(item["size"]),
        sha256=item["sha256"],
        storage_key=key,
        filename=item["filename"],
    )


def _inherited(view: SessionView, media_id: str) -> dict[str, Any] | None:
    for message in view.inherited:
        for item in message.get("media", ()):
            if item.get("media_id") == media_id:
                found: dict[str, Any] = item
                return found
    return None


@router.post("/api/sessions/{sid}/media-ticket")
def media_ticket(access: Member, state: State) -> Ticket:
    """A ticket for this session's media URLs (``?ticket=``), for ``<img>`` and ``<audio>``,
    which cannot send headers: bound to the caller and this session, valid for an hour (a
    player fetches new ranges whenever it seeks); membership is still checked on every use."""
    tickets = state.live.media_tickets
    caller = access.caller
    ticket = tickets.issue(caller.user_id, caller.display_name, str(access.session_id))
    return Ticket(ticket=ticket, expires_in=tickets.ttl_s)


@router.get("/api/media/{sid}/{kind}/{media_id}", response_class=Response, responses=MEDIA_BYTES)
async def get_media_bytes(
    request: Request, access: MediaMember, media: MediaService, kind: Kind, media_id: MediaId
) -> Response:
    """The bytes, with ``ETag`` / ``If-None-Match`` and one ``Range``; on GCS possibly a 307 to
    a signed URL that lives 5 minutes. Credentials: a bearer header, or for ``<img>`` and
    ``<audio>`` (which cannot send one) ``?ticket=`` from ``POST .../media-ticket``."""
    return await serve(request, media, find_media(access.view, kind, media_id))


@router.get("/api/images/{filename}", response_class=Response, responses=IMAGE_BYTES)
async def get_image(
    request: Request,
    caller: Annotated[UrlCaller, Depends(media_caller)],
    state: State,
    media: MediaService,
    filename: FileName,
) -> Response:
    """An image by file name (legacy names, and ``<media_id>.<ext>``), to members of its session;
    with ``?ticket=`` (for ``<img>``), to members of the ticket's session."""
    if not _FILENAME.fullmatch(filename) or ".." in filename:
        raise not_found()
    wait_s = state.settings.read_barrier_seconds
    row = await _first_open(state, caller, await media.named(filename, "image", wait_s=wait_s))
    if row is None:  # none is the caller's: theirs may not be indexed yet (a fork just made)
        rows = await media.named_when_current(filename, "image", wait_s=wait_s)
        row = await _first_open(state, caller, rows)
    if row is None:
        raise not_found()
    return await serve(request, media, row)


async def _first_open(
    state: AppState, caller: UrlCaller, rows: list[IndexedMedia]
) -> IndexedMedia | None:
    """The first of ``rows`` the caller may open: a member of its session (and the session
    their ticket names, if they came with one)."""
    for row in rows:
        if caller.may_open(row.session_id) and await to_thread.run_sync(
            _is_member, state, caller.principal, row.session_id
        ):
            return row
    return None


def _is_member(state: AppState, caller: Principal, session_id: str) -> bool:
    try:
        authorize(state, caller, UUID(session_id), roles.SPECTATOR)
    except (ApiError, SessionNotFound):
        return False
    return True


async def serve(request: Request, media: Media, item: Served | IndexedMedia) -> Response:
    etag = strong_etag(item.sha256)
    name = item.filename if _FILENAME.fullmatch(item.filename) else item.media_id
    headers = SAFE_HEADERS | {"ETag": etag, "Content-Disposition": f'inline; filename="{name}"'}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    try:
        wanted = (
            parse_range(request.headers.get("range"), item.size)
            if range_applies(request.headers.get("if-range"), etag)
            else None
        )
    except Unsatisfiable:
        wanted, unsatisfiable = None, True
    else:
        unsatisfiable = False
    start, end = (0, item.size) if wanted is None else (wanted.start, wanted.end + 1)
    # One trip to a worker thread: the signed URL, else the opened object.
    url, chunks = await to_thread.run_sync(
        lambda: _signed_or_read(media, item, name, None if unsatisfiable else (start, end))
    )
    if url is not None:
        # The URL expires: nobody may cache the redirect.
        return RedirectResponse(
            url,
            status_code=status.HTTP_307_TEMPORARY_REDIRECT,
            headers={"Cache-Control": "private, no-store", "ETag": etag},
        )
    if unsatisfiable or chunks is None:
        raise ApiError(
            416,
            "range_not_satisfiable",
            f"the range is outside the {item.size} bytes of this file",
            headers={"Content-Range": f"bytes */{item.size}"},
        )
    headers["Content-Length"] = str(end - start)
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(item.size)
    return StreamingResponse(
        chunks,
        status_code=status.HTTP_200_OK if wanted is None else status.HTTP_206_PARTIAL_CONTENT,
        media_type=item.content_type,
        headers=headers,
    )


def _signed_or_read(
    media: Media, item: Served | IndexedMedia, name: str, span: tuple[int, int] | None
) -> tuple[str | None, Iterator[bytes] | None]:
    """A signed URL for the object, else its bytes ``span`` (None: an unsatisfiable range,
    which is only answered 416 when no signed URL is served instead); blocking."""
    store = media.store
    url = store.signed_url(item.storage_key, content_type=item.content_type, filename=name)
    if url is not None or span is None:
        return url, None
    return None, store.read(item.storage_key, *span)
