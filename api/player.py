"""The player's web page: one HTML document for ``/``, ``/join/<token>`` and ``/s/<session_id>``,
and its scripts and style from ``api/static/player``, under the pages' strict policy.

The page is plain JavaScript modules the browser loads as they are (no build step, no CDN) and
talks to the public API only. The one thing it cannot learn from the API before signing in is
how to sign in, so the document carries the authentication mode in a ``<meta>`` element.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import State
from api.errors import not_found
from api.pages import ASSET_HEADERS, PAGE_CSP, PAGE_HEADERS, STATIC
from api.settings import Settings

PLAYER: Final = STATIC / "player"
MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# What /assets/ serves: the page's own files, listed once; no other name reaches the disk.
ASSETS: Final = {
    path.name: path for path in PLAYER.iterdir() if path.suffix in MEDIA_TYPES and path.is_file()
}
# The document is small and changes with the installed package only; scripts are revalidated
# so that an upgrade never pairs a new document with old modules.
DOCUMENT_HEADERS: Final = PAGE_HEADERS | {"Cache-Control": "no-cache"}
SCRIPT_HEADERS: Final = PAGE_HEADERS | {"Cache-Control": "no-cache"}

# Media on GCS may be answered with a redirect to a short-lived signed URL on Google's storage
# host; the browser follows it for an <img> or <audio> only if the policy names that origin.
SIGNED_MEDIA_ORIGIN: Final = "https://storage.googleapis.com"

router = APIRouter(include_in_schema=False)

Token = Annotated[str, PathParam(max_length=200)]
SessionId = Annotated[str, PathParam(max_length=64)]


@cache
def _document(auth_mode: str) -> str:
    return (PLAYER / "index.html").read_text("utf-8").replace("{{auth_mode}}", auth_mode)


def page_policy(settings: Settings) -> str:
    """The pages' policy, with the signed-URL origin for pictures and sound when media is on
    GCS (a file store serves them from this origin)."""
    if not settings.media_url.startswith("gs://"):
        return PAGE_CSP
    return PAGE_CSP.replace(
        "img-src 'self' data:", f"img-src 'self' data: {SIGNED_MEDIA_ORIGIN}"
    ).replace("media-src 'self'", f"media-src 'self' {SIGNED_MEDIA_ORIGIN}")


def _page(state: State) -> HTMLResponse:
    headers = DOCUMENT_HEADERS | {"Content-Security-Policy": page_policy(state.settings)}
    return HTMLResponse(_document(state.settings.auth_mode), headers=headers)


@router.get("/")
def home(state: State) -> HTMLResponse:
    """The player page: sign in, my sessions, play."""
    return _page(state)


@router.get("/s/{sid}")
def session_page(state: State, sid: SessionId) -> HTMLResponse:
    """The page opened on one session; the page itself asks the API whether it may see it."""
    return _page(state)


@router.get("/join/{token}")
def join_page(state: State, token: Token) -> HTMLResponse:
    """An invite link: the page signs in if needed, accepts the invite and opens the session."""
    return _page(state)


@router.get("/assets/{name}")
def asset(name: str) -> FileResponse:
    path: Path | None = ASSETS.get(name)
    if path is None:
        raise not_found()
    headers = SCRIPT_HEADERS if path.suffix == ".js" else ASSET_HEADERS
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)
