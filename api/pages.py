"""Pages the service serves to a browser, here the interactive API documentation at ``/docs``,
from files installed with the project (never a CDN) under one strict Content-Security-Policy.

Swagger UI comes from the ``swagger-ui-bundle-v2`` package; the page and its start-up script are
ours (``api/static/docs``), so no inline script needs ``'unsafe-inline'``. The player's page
(``api/player.py``) is served under the same policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse
from swagger_ui_bundle import swagger_ui_path

from api.errors import not_found

STATIC: Final = Path(__file__).parent / "static"

# Everything from this origin, nothing inline, nothing framed, no plugins. Swagger UI draws its
# icons as data: images; the player page plays a story's audio. Every page of ours is served
# under this policy.
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Assets change only with the installed packages: a day in caches, revalidated after.
ASSET_HEADERS: Final = PAGE_HEADERS | {"Cache-Control": "public, max-age=86400"}

# What /docs/assets/ serves: Swagger UI's own files, and our start-up script. Nothing else of
# either directory is reachable, whatever the name asked for.
DOCS_ASSETS: Final = {
    "swagger-ui.css": Path(str(swagger_ui_path)) / "swagger-ui.css",
    "swagger-ui-bundle.js": Path(str(swagger_ui_path)) / "swagger-ui-bundle.js",
    "favicon-32x32.png": Path(str(swagger_ui_path)) / "favicon-32x32.png",
    "init.js": STATIC / "docs" / "init.js",
}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs_page() -> FileResponse:
    """The interactive API documentation (Swagger UI on ``/openapi.json``)."""
    return FileResponse(
        STATIC / "docs" / "index.html",
        media_type="text/html; charset=utf-8",
        headers=PAGE_HEADERS | {"Cache-Control": "no-cache"},
    )


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    path = DOCS_ASSETS.get(name)
    if path is None:
        raise not_found()
    return FileResponse(path, headers=ASSET_HEADERS)
