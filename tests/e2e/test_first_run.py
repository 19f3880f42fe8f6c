"""What a newcomer meets on a fresh machine: the service says where to go once it is ready, and
the interactive API documentation works with no network (``/docs`` loads Swagger UI from files
installed with the project, under the pages' strict Content-Security-Policy)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Route

from api.pages import PAGE_CSP
from tests.support.api import free_port
from tests.support.browser import chromium
from tests.support.live_server import serve, start, store_env
from tests.support.stores import StoreConfig

pytestmark = pytest.mark.slow

WAIT_MS = 20_000


def test_the_docs_page_lists_the_operations_with_the_network_unplugged(
    sqlite_store: StoreConfig, tmp_path: Path
) -> None:
    server = start(store_env(sqlite_store), free_port(), tmp_path / "server.log")
    with ExitStack() as stack:
        stack.enter_context(serve(server))
        browser = stack.enter_context(chromium())
        page = browser.new_page()
        # Unplugged: every request that leaves this service fails, and is remembered.
        elsewhere: list[str] = []

        def unplugged(route: Route) -> None:
            if urlsplit(route.request.url).netloc == f"127.0.0.1:{server.port}":
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort("internetdisconnected")

        page.route("**/*", unplugged)
        refused: list[str] = []
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(f"{server.base_url}/docs")
        operation = page.get_by_role("button", name="POST /api/campaigns/new", exact=False)
        operation.first.wait_for(timeout=WAIT_MS)
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        operations = page.locator(".opblock").count()

    assert operations >= 20  # the whole API, not an empty shell
    assert elsewhere == []
    assert refused == []


def test_the_docs_page_and_its_assets_carry_the_strict_policy(
    sqlite_store: StoreConfig, tmp_path: Path
) -> None:
    server = start(store_env(sqlite_store), free_port(), tmp_path / "server.log")
    with serve(server):
        page = httpx.get(f"{server.base_url}/docs")
        script = httpx.get(f"{server.base_url}/docs/assets/swagger-ui-bundle.js")
        outside = httpx.get(f"{server.base_url}/docs/assets/..%2Findex.html")
        redoc = httpx.get(f"{server.base_url}/redoc")

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_CSP
    assert "unsafe-inline" not in PAGE_CSP
    assert "<script>" not in page.text  # no inline script: it could not run under the policy
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert outside.status_code == 404
    assert redoc.status_code == 404


def test_serve_says_once_ready_which_url_to_open_and_where_the_quick_start_is(
    sqlite_store: StoreConfig, tmp_path: Path
) -> None:
    server = start(store_env(sqlite_store), free_port(), tmp_path / "server.log")
    with serve(server):
        said = server.log.read_text()

    assert f"Gaia is ready at {server.base_url}" in said
    assert f"Play in a browser: {server.base_url}/\n" in said
    assert f"{server.base_url}/docs" in said
    assert "Play from a terminal" in said
