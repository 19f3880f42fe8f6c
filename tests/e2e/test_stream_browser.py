"""A real browser follows a session: Chromium's EventSource with a stream ticket, from a page on
another origin (CORS), replays, receives live events, and after a server restart reconnects by
itself and ends with every version exactly once.

Needs Debian's Chromium (tests/support/browser.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from playwright.sync_api import Page

from domain.adapters.config import store_env as library_env
from domain.adapters.event_store import open_sessions
from projections.timeline import EVENT_TOPICS
from tests.e2e.conftest import OWNER
from tests.support.api import free_port
from tests.support.browser import chromium
from tests.support.live_server import Server, bearer, serve, start, store_env
from tests.support.stores import StoreConfig

pytestmark = pytest.mark.slow

WAIT_MS = 20_000

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Gaia live</title>
<script>
const query = new URLSearchParams(location.search);
window.received = [];
window.opens = 0;
const url = `${query.get("api")}/api/sessions/${query.get("sid")}/events?ticket=`
    + encodeURIComponent(query.get("ticket"));
const source = new EventSource(url);
source.onopen = () => { window.opens += 1; };
for (const name of NAMES) {
    source.addEventListener(name, (event) => window.received.push(Number(event.lastEventId)));
}
</script>
"""


class _PageHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def page_origin() -> Iterator[str]:
    """A tiny web server for the page, on an origin of its own."""
    _PageHandler.body = PAGE.replace("NAMES", json.dumps(sorted(EVENT_TOPICS))).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _rename(server: Server, session_id: str, title: str) -> None:
    answer = httpx.patch(
        f"{server.base_url}/api/sessions/{session_id}", json={"title": title}, headers=bearer(OWNER)
    )
    assert answer.status_code == 200, answer.text


def _wait_for_versions(page: Page, count: int) -> None:
    page.wait_for_function(f"window.received.length >= {count}", timeout=WAIT_MS)


def test_a_browser_replays_follows_and_resumes_by_itself_after_a_restart(
    store: StoreConfig, tmp_path: Path, page_origin: str
) -> None:
    env = store_env(store, GAIA_CORS_ORIGINS=page_origin)
    port = free_port()
    with ExitStack() as stack:
        first = start(env, port, tmp_path / "first.log")
        stack.enter_context(serve(first))
        created = httpx.post(
            f"{first.base_url}/api/campaigns/new", json={"title": "Lit"}, headers=bearer(OWNER)
        )
        sid = created.json()["session_id"]
        for n in range(4):
            _rename(first, sid, f"before {n}")  # versions 2..5: replayed
        ticket = httpx.post(
            f"{first.base_url}/api/sessions/{sid}/stream-ticket", headers=bearer(OWNER)
        ).json()["ticket"]

        browser = stack.enter_context(chromium())
        page = browser.new_page()
        page.goto(f"{page_origin}/?api={first.base_url}&sid={sid}&ticket={ticket}")
        _wait_for_versions(page, 5)
        for n in range(2):
            _rename(first, sid, f"live {n}")  # versions 6..7: live
        _wait_for_versions(page, 7)

        first.terminate(timeout=8)
        # While no server runs, another writer appends (version 8): resume must replay it.
        writer = open_sessions(library_env(store.database_url, store.data_dir, name="gaia"))
        try:
            writer.rename(session_id=UUID(sid), actor=OWNER, title="while down")
        finally:
            writer.close()

        second = start(env, port, tmp_path / "second.log")  # same URL: the browser comes back
        stack.enter_context(serve(second))
        for n in range(2):
            _rename(second, sid, f"after {n}")  # versions 9..10
        _wait_for_versions(page, 10)
        received = page.evaluate("window.received")
        opens = page.evaluate("window.opens")
    assert received == list(range(1, 11))
    assert opens >= 2  # it reconnected by itself, with the same ticket
