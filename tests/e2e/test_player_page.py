"""The player's web page in a real browser (Debian's Chromium through Playwright) against a real
``python -m api serve`` process on each store: sign in, play, share, join, live updates, a
server restart, reloads, errors in words, both screen widths and an accessibility check.

Everything is found by role and accessible name, the names the issue fixes for screen readers.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect
from playwright.sync_api import Error as PlaywrightError

from api.auth import LocalAuthenticator
from api.pages import PAGE_CSP
from domain.adapters.config import store_env as library_env
from domain.adapters.event_store import open_sessions
from tests.support.api import Service, free_port, running
from tests.support.browser import chromium
from tests.support.fake_llm import Answer, FakeLLM, Status
from tests.support.jwks_server import JwksServer, RsaSigningKey
from tests.support.live_server import SECRET, Server, serve, start, store_env
from tests.support.stores import StoreConfig
from tests.support.story import narrated_story

pytestmark = pytest.mark.slow

WAIT_MS = 20_000
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"  # var/ is ignored by git: artifacts to look at
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def server(store: StoreConfig, tmp_path: Path) -> Iterator[Server]:
    started = start(store_env(store), free_port(), tmp_path / "server.log")
    with serve(started):
        yield started


def _context(browser: Browser, width: int = 1280, height: int = 800) -> BrowserContext:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    return context


def _story(page: Page) -> Locator:
    return page.get_by_role("log", name="Story")


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("button", name="Play as guest").click()


def _new_campaign(page: Page, title: str) -> None:
    page.get_by_role("button", name="New campaign").click()
    page.get_by_role("textbox", name="Campaign title").fill(title)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()


def _send(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Your action").fill(text)
    page.get_by_role("button", name="Send").click()


def _narrated(page: Page, text: str) -> None:
    """``text`` was played and its (demo) narration, which quotes it, is in the story."""
    story = _story(page)
    expect(story.locator(".message.player", has_text=text)).to_have_count(1)
    expect(story.locator(".message.narrator:not(.streaming)", has_text=text)).to_have_count(1)


def _share(page: Page) -> str:
    page.get_by_role("button", name="Share").click()
    link = page.get_by_role("textbox", name="Invite link")
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/join/\S+$"))
    return link.input_value()


def _shown_versions(page: Page) -> list[int]:
    versions: list[int] = (
        _story(page)
        .locator(".message[data-version]")
        .evaluate_all("items => items.map(item => Number(item.dataset.version))")
    )
    return versions


def _session_id(page: Page) -> str:
    match = re.search(r"/s/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    return match.group(1)


def _token(page: Page) -> str:
    token: str = page.evaluate("localStorage.getItem('gaia.token')")
    return token


def _history_versions(server: Server, page: Page) -> list[int]:
    answer = httpx.get(
        f"{server.base_url}/api/sessions/{_session_id(page)}/history",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {_token(page)}"},
    )
    assert answer.status_code == 200, answer.text
    return [message["version"] for message in answer.json()["messages"]]


def test_a_shared_campaign_plays_live_in_two_browsers_and_a_third_player_sees_none_of_it(
    server: Server, browser: Browser
) -> None:
    ada, bob, cleo = (_context(browser).new_page() for _ in range(3))
    cleo_answers: list[Response] = []
    # A lambda, not the bound method: Playwright tags each handler with an attribute.
    cleo.on("response", lambda answer: cleo_answers.append(answer))  # noqa: PLW0108
    _sign_in(ada, server.base_url, "Ada")
    _new_campaign(ada, "The Salt Road")
    _sign_in(cleo, server.base_url, "Cleo")
    _new_campaign(cleo, "Glass Harbour")
    _send(ada, "I light a torch")
    _send(cleo, "I row towards the lighthouse")
    _narrated(ada, "I light a torch")
    _narrated(cleo, "I row towards the lighthouse")

    link = _share(ada)
    _sign_in(bob, link, "Bob")  # the invite link signs him in, accepts and opens the session
    expect(bob.get_by_role("heading", name="The Salt Road")).to_be_visible()
    _narrated(bob, "I light a torch")  # the whole story so far
    expect(bob.get_by_text("Live", exact=True)).to_be_visible()

    _send(bob, "I follow the smoke")
    _narrated(ada, "I follow the smoke")  # live in Ada's page, no reload
    ada.get_by_label("Upload image").set_input_files(
        files=[{"name": "map.png", "mimeType": "image/png", "buffer": _png()}]
    )
    for page in (ada, bob):  # shown to both, through a media ticket
        picture = _story(page).get_by_role("img", name="An image shared by Ada")
        expect(picture).to_have_js_property("naturalWidth", 8)
    media_path = str(_story(ada).get_by_role("img").get_attribute("data-media"))
    _send(ada, "I draw my sword")
    _narrated(bob, "I draw my sword")
    _send(cleo, "I ring the harbour bell")
    _narrated(cleo, "I ring the harbour bell")

    for page in (ada, bob):
        members = page.get_by_role("list", name="Members")
        expect(members.get_by_role("listitem").filter(has_text="Ada")).to_contain_text("owner")
        expect(members.get_by_role("listitem").filter(has_text="Bob")).to_contain_text("player")
    expect(ada.get_by_role("listitem").filter(has_text="Cleo")).to_have_count(0)
    expect(cleo.get_by_role("list", name="Members").get_by_role("listitem")).to_have_count(1)

    salt_road = _session_id(ada)
    theirs = ("I light a torch", "I follow the smoke", "I draw my sword", "Salt Road", "Bob")
    cleo_text = cleo.locator("body").inner_text()
    cleo_bodies = [_body(answer) for answer in cleo_answers if "/api/" in answer.url]
    assert any("harbour bell" in body for body in cleo_bodies)  # the bodies were read
    for text in (*theirs, "Ada", salt_road, media_path.rsplit("/", 1)[1]):
        assert text not in cleo_text
        assert not any(text in body for body in cleo_bodies), text
    for page in (ada, bob):
        page_text = page.locator("body").inner_text()
        for text in ("lighthouse", "harbour bell", "Glass Harbour", "Cleo", _session_id(cleo)):
            assert text not in page_text
    assert _shown_versions(ada) == _history_versions(server, ada)
    assert _shown_versions(bob) == _history_versions(server, bob)


def _png(width: int = 8, height: int = 8) -> bytes:
    """A real (decodable) PNG of one colour, so that the browser can show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x1f\x4e\x5f" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _body(response: Response) -> str:
    """A response's text; an event stream (still open) and a bodiless answer have none."""
    if "text/event-stream" in response.headers.get("content-type", ""):
        return ""
    try:
        return response.text()
    except PlaywrightError:  # a 204, or a redirect: nothing to read
        return ""


def test_both_pages_recover_by_themselves_after_a_server_restart_and_show_every_message_once(
    store: StoreConfig, browser: Browser, tmp_path: Path
) -> None:
    env, port = store_env(store), free_port()
    with ExitStack() as stack:
        first = start(env, port, tmp_path / "first.log")
        stack.enter_context(serve(first))
        ada, bob = (_context(browser).new_page() for _ in range(2))
        _sign_in(ada, first.base_url, "Ada")
        _new_campaign(ada, "Night Train")
        _send(ada, "I check the tickets")
        _narrated(ada, "I check the tickets")
        _sign_in(bob, _share(ada), "Bob")
        _narrated(bob, "I check the tickets")
        expect(bob.get_by_text("Live", exact=True)).to_be_visible()

        first.process.kill()  # no goodbye: the pages find out by themselves
        first.process.wait(10)
        for page in (ada, bob):
            expect(page.get_by_text("Reconnecting…")).to_be_visible()
        _send(bob, "I pull the emergency brake")  # sent while the server is down: kept trying
        expect(bob.get_by_role("alert")).to_have_text("The service cannot be reached. Retrying…")

        second = start(env, port, tmp_path / "second.log")  # the same address comes back
        stack.enter_context(serve(second))
        for page in (ada, bob):
            expect(page.get_by_text("Live", exact=True)).to_be_visible()
            _narrated(page, "I pull the emergency brake")
        _send(ada, "I climb onto the roof")
        for page in (ada, bob):
            _narrated(page, "I climb onto the roof")
            versions = _shown_versions(page)
            assert versions == _history_versions(second, page)
            assert len(versions) == len(set(versions)) == 6  # three turns, three narrations


def test_a_reload_keeps_the_session_and_lists_show_titles_and_names_not_ids(
    server: Server, browser: Browser
) -> None:
    context = _context(browser)
    ada = context.new_page()
    _sign_in(ada, server.base_url, "Ada")
    _new_campaign(ada, "First Campaign")
    _new_campaign(ada, "Second Campaign")
    _send(ada, "I open the map")
    _narrated(ada, "I open the map")
    sid = _session_id(ada)

    ada.reload()
    expect(ada.get_by_role("heading", name="Second Campaign")).to_be_visible()
    _narrated(ada, "I open the map")
    again = context.new_page()  # a new tab on / resumes the session too
    again.goto(server.base_url)
    expect(again.get_by_role("heading", name="Second Campaign")).to_be_visible()
    assert _session_id(again) == sid

    sessions = again.get_by_role("navigation", name="My sessions")
    expect(sessions.get_by_role("link", name="First Campaign")).to_be_visible()
    expect(sessions.get_by_role("link", name="Second Campaign")).to_be_visible()
    members = again.get_by_role("list", name="Members")
    expect(members.get_by_role("listitem")).to_have_text([re.compile(r"^Ada \(you\)\s+owner$")])
    for text in (sessions.inner_text(), members.inner_text()):
        assert not UUID_TEXT.search(text)
        assert "guest" not in text.lower()  # guest user ids never show, only display names

    sessions.get_by_role("link", name="First Campaign").click()
    expect(again.get_by_role("heading", name="First Campaign")).to_be_visible()
    again.reload()
    expect(again.get_by_role("heading", name="First Campaign")).to_be_visible()


def test_the_playing_page_works_at_desktop_and_phone_widths_and_passes_an_accessibility_check(
    server: Server, browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    page = _context(browser).new_page()
    _sign_in(page, server.base_url, "Ada")
    _new_campaign(page, "The Salt Road")
    for action in ("I light a torch", "I follow the old road north"):
        _send(page, action)
        _narrated(page, action)
    _share(page)
    page.get_by_role("button", name="Share").click()  # closed again: the playing view

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    store = request.node.callspec.id
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        # The first screen is for playing: the story, the action box and Send.
        expect(page.get_by_role("textbox", name="Your action")).to_be_in_viewport()
        expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
        expect(page.get_by_role("log", name="Story")).to_be_in_viewport()
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"the page scrolls sideways at {width} px"
        shot = tmp_path / f"player-{width}x{height}.png"
        page.screenshot(path=str(shot))
        shutil.copy(shot, SCREENSHOTS / f"player-{width}x{height}-{store}.png")

        results = Axe().run(page)
        grave = [
            f"{violation['id']}: {violation['help']}"
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert grave == [], grave


def test_errors_a_player_can_act_on_are_shown_in_words(
    store: StoreConfig, browser: Browser, tmp_path: Path
) -> None:
    env = store_env(store, GAIA_INVITE_ACCEPTS_PER_USER_PER_MINUTE="2")
    server = start(env, free_port(), tmp_path / "server.log")
    with serve(server):
        ada, bob = (_context(browser).new_page() for _ in range(2))
        _sign_in(ada, server.base_url, "Ada")
        _new_campaign(ada, "Lantern Hill")
        _sign_in(bob, _share(ada), "Bob")
        expect(bob.get_by_role("heading", name="Lantern Hill")).to_be_visible()
        expect(bob.get_by_text("Live", exact=True)).to_be_visible()

        ada.get_by_role("combobox", name="Role of Bob").select_option("spectator")
        expect(bob.get_by_text("You are watching as a spectator.")).to_be_visible()
        expect(bob.get_by_role("textbox", name="Your action")).to_be_hidden()
        ada.get_by_role("button", name="Remove Bob").click()
        expect(bob.get_by_role("alert")).to_have_text(
            "This session is not open to you: it does not exist, or you were removed from it."
        )
        expect(bob.get_by_role("link", name="Lantern Hill")).to_have_count(0)

        stale = f"{server.base_url}/join/gaia_inv_{'0' * 32}_{'x' * 32}"
        bob.goto(stale)
        expect(bob.get_by_role("alert")).to_have_text(
            "This invite link has expired, was revoked or has been used up. Ask for a new one."
        )
        bob.goto(stale)  # the per-user quota of accepts (two a minute here) is spent
        expect(bob.get_by_role("alert")).to_have_text(
            re.compile(r"^Too many requests\. Try again in \d+ seconds?\.$")
        )
        body = bob.locator("body").inner_text()
        assert "{" not in body
        assert "rate_limited" not in body


def test_the_page_is_served_at_its_routes_under_the_strict_policy(service: Service) -> None:
    for path in ("/", "/s/7c0e7f46-3f7e-4a43-9d2f-2f0f0f0f0f0f", "/join/gaia_inv_abc", "/s/x"):
        answer = service.client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["content-security-policy"] == PAGE_CSP
        assert "unsafe-inline" not in PAGE_CSP
        assert '<meta name="gaia-auth-mode" content="local">' in answer.text
    script = service.client.get("/assets/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["content-security-policy"] == PAGE_CSP
    for missing in ("/assets/nothing.js", "/assets/index.html", "/assets/..%2F..%2Fsettings.py"):
        assert service.client.get(missing).status_code == 404, missing


def test_the_timeline_steps_through_versions_and_the_owner_rewinds_forks_and_exports(
    server: Server, browser: Browser
) -> None:
    ada = _context(browser).new_page()
    _sign_in(ada, server.base_url, "Ada")
    _new_campaign(ada, "Old Mill")
    for action in ("I knock on the door", "I climb through the window"):
        _send(ada, action)
        _narrated(ada, action)

    ada.get_by_role("button", name="Timeline").click()
    at_version = ada.get_by_role("list", name="Story at this version")
    expect(at_version).to_contain_text("I climb through the window")
    ada.get_by_role("slider", name="Version").fill("3")  # the first turn and its narration
    expect(ada.get_by_text("version 3 of 5")).to_be_visible()
    expect(at_version).to_contain_text("I knock on the door")
    expect(at_version).not_to_contain_text("I climb through the window")

    ada.get_by_role("button", name="Rewind to this version").click()
    story = _story(ada)
    expect(story.get_by_text("I climb through the window")).to_have_count(0)
    expect(story.locator(".message")).to_have_count(2)
    events = ada.get_by_role("list", name="Events")
    rewound = events.get_by_role("listitem").filter(has=ada.locator(".tag", has_text="rewound"))
    expect(rewound).to_have_text([re.compile(r"^v4 Turn played"), re.compile(r"^v5 Narrated")])

    with ada.expect_download() as download:
        ada.get_by_role("button", name="Download audit export").click()
    lines = Path(download.value.path()).read_text("utf-8").splitlines()
    assert json.loads(lines[0])["title"] == "Old Mill"
    assert json.loads(lines[-1])["type"] == "trailer"

    ada.get_by_role("slider", name="Version").fill("3")
    ada.get_by_role("button", name="Fork from this version").click()
    expect(ada.get_by_role("heading", name="Old Mill (fork)")).to_be_visible()
    _narrated(ada, "I knock on the door")
    sessions = ada.get_by_role("navigation", name="My sessions")
    expect(sessions.get_by_role("link", name="Old Mill (fork)")).to_be_visible()
    expect(sessions.get_by_role("link", name="Old Mill", exact=True)).to_be_visible()


def test_a_narration_shows_while_it_streams_and_a_failed_one_offers_retry(
    store: StoreConfig, browser: Browser, tmp_path: Path
) -> None:
    release = threading.Event()
    with FakeLLM() as llm:
        llm.queue(
            Answer(
                text="The bridge creaks under your weight.",
                pieces=["The bridge ", "creaks under ", "your weight."],
                stream=True,
                release=release,  # the rest of the narration waits for the test
            ),
            Status(500, "the model is down"),
        )
        llm.always(Answer(text="The ferryman nods."))
        env = store_env(store, GAIA_LLM_BASE_URL=llm.base_url, GAIA_LLM_MAX_ATTEMPTS="1")
        server = start(env, free_port(), tmp_path / "server.log")
        with serve(server):
            page = _context(browser).new_page()
            _sign_in(page, server.base_url, "Ada")
            _new_campaign(page, "River Crossing")
            story = _story(page)
            _send(page, "I cross the bridge")
            preview = story.locator(".message.streaming")
            expect(preview).to_contain_text("The bridge")  # live, before it is stored
            expect(preview).to_have_attribute("aria-busy", "true")
            expect(story.get_by_text("Waiting for the narrator…")).to_be_visible()
            release.set()
            stored = story.locator(".message.narrator:not(.streaming)")
            expect(stored).to_have_text(re.compile(r"The bridge creaks under your weight\.$"))
            expect(preview).to_have_count(0)

            _send(page, "I jump into the river")
            expect(story).to_contain_text("The narrator could not answer")
            story.get_by_role("button", name="Retry").click()
            expect(stored.filter(has_text="The ferryman nods.")).to_have_count(1)
            expect(story.get_by_role("button", name="Retry")).to_have_count(0)
            expect(story).not_to_contain_text("could not answer")


def test_in_oidc_mode_the_page_takes_the_identity_providers_token_instead_of_a_guest_name(
    sqlite_store: StoreConfig, browser: Browser
) -> None:
    key = RsaSigningKey.generate("key-1")
    jwks = JwksServer(key)
    jwks.start()
    issuer, audience, now = "https://id.gaia.example/", "https://api.gaia.example", int(time.time())
    claims = {"sub": "idp|ada", "name": "Ada Lovelace", "iss": issuer, "aud": audience}
    token = key.sign(claims | {"iat": now, "nbf": now, "exp": now + 600}, kid="key-1")
    settings = {"oidc_issuer": issuer, "oidc_audience": audience, "oidc_jwks_url": jwks.url}
    try:
        with running(sqlite_store, auth_mode="oidc", **settings) as service:
            page = _context(browser).new_page()
            page.goto(service.base_url)
            expect(page.get_by_role("textbox", name="Access token")).to_be_visible()
            expect(page.get_by_role("button", name="Play as guest")).to_be_hidden()

            page.goto(f"{service.base_url}/#access_token={token}")  # as a provider redirects
            expect(page.get_by_text("Ada Lovelace", exact=True)).to_be_visible()
            assert "access_token" not in page.url  # taken out of the address bar
            _new_campaign(page, "Signed In")
            expect(page.get_by_role("list", name="Members")).to_contain_text("Ada Lovelace")
    finally:
        jwks.stop()


def _long_story(store: StoreConfig, owner: str, turns: int) -> str:
    """A session of ``turns`` narrated turns written straight to the store; its id."""
    sessions = open_sessions(library_env(store.database_url, store.data_dir, name="gaia"))
    try:
        session = narrated_story(
            sessions,
            owner=owner,
            owner_name="Ada",
            title="The Long Road",
            turns=turns,
            text=lambda n: f"Step {n} along the road",
            narrative=lambda n: f"The road goes on after step {n}.",
        )
        return str(session.id)
    finally:
        sessions.close()


def test_a_long_story_opens_at_its_end_and_pages_backwards_as_it_is_scrolled_up(
    store: StoreConfig, browser: Browser, tmp_path: Path
) -> None:
    sid = _long_story(store, "user-ada", turns=70)  # 140 messages: three pages of 50
    server = start(store_env(store), free_port(), tmp_path / "server.log")
    with serve(server):
        context = _context(browser)
        token = LocalAuthenticator(SECRET).issue("user-ada", "Ada")
        context.add_init_script(f"localStorage.setItem('gaia.token', {json.dumps(token)})")
        page = context.new_page()
        page.goto(f"{server.base_url}/s/{sid}")
        story = _story(page)
        expect(story.get_by_text("The road goes on after step 69.")).to_be_in_viewport()
        expect(story.locator(".message")).to_have_count(50)  # the newest page only
        for shown in (100, 140):
            story.evaluate("log => { log.scrollTop = 0; }")  # the reader scrolls up
            expect(story.locator(".message")).to_have_count(shown)
        expect(story.get_by_text("Step 0 along the road", exact=True)).to_have_count(1)
        expect(page.get_by_role("button", name="Load earlier messages")).to_be_hidden()
        assert _shown_versions(page) == _history_versions(server, page)
