"""Group ``page``: the player page opened on a session of 1,000 messages, beside a static page.

Ours: Chromium opens ``/`` signed in, with the session as the one to resume (the token and the
session id in ``localStorage``, as a returning player has them); the time runs from navigation
start to the story showing its last message, and the bytes are everything the page transferred
until its live stream is open (scripts, style, API answers; headers included). The page reads
the newest 50 messages and pages back on scrolling.

Baseline: a static HTML document holding the same 1,000 messages with the same markup and style,
served by Python's ``http.server`` in its own process; the same clock, to the same last message.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx
from playwright.sync_api import Browser, Request, sync_playwright

from api.auth import LocalAuthenticator
from bench.core import JWT_SECRET, OWNER, REPS, Context, Row, Store, progress, stop, turn_text
from bench.startup import free_port, service_env
from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # one way of launching Chromium
from tests.support.story import narrated_story

GROUP: Final = "page"
MESSAGES: Final = 1_000  # turns and their narrations
SAVE_EVERY: Final = 100  # turn pairs per save while seeding
READY_TIMEOUT_S: Final = 60.0
SHOWN_TIMEOUT_MS: Final = 60_000
ROOT: Final = Path(__file__).resolve().parents[1]
PLAYER_CSS: Final = ROOT / "api" / "static" / "player" / "player.css"
BASELINE: Final = "static HTML page of the same 1,000 messages (http.server)"
# Marks the moment the story shows `selector`, in the page's own clock (navigation start = 0).
SHOWN: Final = """selector => {
  if (window.__shownAt === undefined && document.querySelector(selector)) {
    window.__shownAt = performance.now();
  }
  return window.__shownAt !== undefined;
}"""


def run(ctx: Context) -> list[Row]:
    """Register in bench/__init__.py's GROUPS as ``"page": page.run``."""
    rows: list[Row] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for store in ctx.stores(GROUP):
                progress(f"{GROUP}: seeding a session of {MESSAGES:,} messages ({store.label})")
                session_id, last = seed(store)
                with serving(store, ctx.scratch / f"{GROUP}-{store.kind}.log") as base_url:
                    static_dir = ctx.scratch / f"{GROUP}-{store.kind}-static"
                    write_static(base_url, session_id, static_dir)
                    with static_server(static_dir) as static_url:
                        rows += measure(browser, store, base_url, static_url, session_id, last)
        finally:
            browser.close()
    return rows


def measure(
    browser: Browser, store: Store, base_url: str, static_url: str, session_id: str, last: int
) -> list[Row]:
    token = LocalAuthenticator(JWT_SECRET).issue(OWNER, "Bench")
    selector = f'.message[data-version="{last}"]'
    resume = (
        f"localStorage.setItem('gaia.token', {token!r});"
        f"localStorage.setItem('gaia.session', {session_id!r});"
    )
    open_page(browser, f"{base_url}/", selector, resume, live=True)  # untimed: warm caches
    open_page(browser, f"{static_url}/story.html", selector, "", live=False)
    ours = [open_page(browser, f"{base_url}/", selector, resume, live=True) for _ in range(REPS)]
    static = [
        open_page(browser, f"{static_url}/story.html", selector, "", live=False)
        for _ in range(REPS)
    ]
    common: dict[str, Any] = {"store": store.label, "baseline": BASELINE}
    return [
        Row(
            group=GROUP,
            measure=f"open / to the last of {MESSAGES:,} messages shown",
            unit="s",
            higher_is_better=False,
            runs=[seconds for seconds, _ in ours],
            baseline_runs=[seconds for seconds, _ in static],
            note="the page reads the newest 50 messages; older ones page in on scrolling",
            **common,
        ),
        Row(
            group=GROUP,
            measure=f"bytes transferred opening {MESSAGES:,} messages",
            unit="bytes",
            higher_is_better=False,
            runs=[float(size) for _, size in ours],
            baseline_runs=[float(size) for _, size in static],
            note="ours: the document, scripts, style and API answers until the stream is open",
            **common,
        ),
    ]


def open_page(
    browser: Browser, url: str, selector: str, init_script: str, *, live: bool
) -> tuple[float, int]:
    """Seconds from navigation start until ``selector`` shows, and the bytes transferred."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        if init_script:
            context.add_init_script(init_script)
        finished: list[Request] = []
        page = context.new_page()
        # A lambda, not the bound method: Playwright tags each handler with an attribute.
        page.on("requestfinished", lambda request: finished.append(request))  # noqa: PLW0108
        page.goto(url, wait_until="commit")
        page.wait_for_function(SHOWN, arg=selector, polling="raf", timeout=SHOWN_TIMEOUT_MS)
        if live:  # every answer the opening needs has arrived once the stream is open
            page.get_by_text("Live", exact=True).wait_for(timeout=SHOWN_TIMEOUT_MS)
        else:
            page.wait_for_load_state("load")
        seconds = float(page.evaluate("window.__shownAt")) / 1000
        size = 0
        for request in finished:
            sizes = request.sizes()
            size += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return seconds, size
    finally:
        context.close()


def seed(store: Store) -> tuple[str, int]:
    """A session of ``MESSAGES`` messages (turns, each narrated); its id and last version."""
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        session = narrated_story(
            sessions,
            owner=OWNER,
            owner_name="Bench",
            title="The long road",
            turns=MESSAGES // 2,
            text=turn_text,
            narrative=lambda n: (
                f"The crypt answers turn {n}: water drips, and something waits below."
            ),
            options=("Go on", "Turn back"),
            save_every=SAVE_EVERY,
        )
        return str(session.id), session.version
    finally:
        sessions.close()


@contextmanager
def serving(store: Store, log: Path) -> Iterator[str]:
    """``python -m api serve`` on ``store``, until the block ends; yields its base URL."""
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve"],
            cwd=ROOT,
            env=os.environ | service_env(store) | {"PORT": str(port), "HOST": "127.0.0.1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{base_url}/readyz")
        yield base_url
    finally:
        stop(process)


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """Python's ``http.server`` on ``directory``, in its own process."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{base_url}/story.html")
        yield base_url
    finally:
        stop(process)


def wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    started = time.perf_counter()
    with httpx.Client(timeout=1) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with {process.returncode}")
            try:
                if client.get(url).status_code == httpx.codes.OK:
                    return
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S} s")
            time.sleep(0.02)


def write_static(base_url: str, session_id: str, directory: Path) -> None:
    """The whole story as one static document, in the page's markup and style."""
    headers = {"Authorization": f"Bearer {LocalAuthenticator(JWT_SECRET).issue(OWNER, 'Bench')}"}
    messages: list[dict[str, Any]] = []
    after: int | None = None
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while True:
            params: dict[str, int] = {"limit": 500} | ({"after": after} if after else {})
            page = client.get(f"/api/sessions/{session_id}/history", params=params).json()
            messages += page["messages"]
            after = page["next_after"]
            if after is None:
                break
    items = "\n".join(
        f'<li class="message {m["role"]}" data-version="{m["version"]}">'
        f'<p class="meta"><span class="who">'
        f"{'Narrator' if m['role'] == 'narrator' else html.escape(m['author']['display_name'])}"
        f'</span> <time datetime="{m["recorded_at"]}">{html.escape(m["recorded_at"])}</time></p>'
        f'<div class="text">{html.escape(m["text"])}</div></li>'
        for m in messages
    )
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLAYER_CSS, directory / "player.css")
    (directory / "story.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>The long road</title>'
        '<link rel="stylesheet" href="player.css"></head><body><main><div class="story" '
        f'role="log" aria-label="Story"><ol class="messages">\n{items}\n</ol></div></main>'
        "</body></html>",
        "utf-8",
    )
