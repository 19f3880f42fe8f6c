"""The player page's files agree with the server: the event names its stream listens to, and
every script and style it loads is one the asset route serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from api.live import DELTA_EVENT
from api.pages import PAGE_CSP
from api.player import ASSETS, PLAYER, SIGNED_MEDIA_ORIGIN, page_policy
from api.settings import Settings
from projections.timeline import EVENT_TOPICS


def test_the_page_listens_to_every_event_name_the_stream_sends() -> None:
    source = (PLAYER / "events.js").read_text("utf-8")
    listed = re.search(r"EVENT_NAMES = (\[.*?\]);", source, re.DOTALL)
    assert listed is not None
    assert json.loads(listed.group(1).replace(",\n]", "\n]")) == sorted(EVENT_TOPICS)
    assert f'DELTA = "{DELTA_EVENT}"' in source


def test_the_timeline_panel_names_every_event_type_in_words() -> None:
    source = (PLAYER / "timeline.js").read_text("utf-8")
    words = re.search(r"const WORDS = \{(.*?)\};", source, re.DOTALL)
    assert words is not None
    assert set(re.findall(r"^\s+(\w+):", words.group(1), re.MULTILINE)) == set(EVENT_TOPICS)


def test_every_file_the_page_loads_is_served_from_the_assets_route() -> None:
    document = (PLAYER / "index.html").read_text("utf-8")
    loaded = set(re.findall(r'(?:src|href)="/assets/([^"]+)"', document))
    for script in PLAYER.glob("*.js"):
        loaded |= set(re.findall(r'from "\./([^"]+)"', script.read_text("utf-8")))
    assert loaded, "the document loads its scripts and style from /assets/"
    assert loaded <= ASSETS.keys()
    assert {"main.js", "player.css"} <= loaded


def test_the_page_has_no_inline_script_or_style_the_policy_would_block() -> None:
    document = (PLAYER / "index.html").read_text("utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", document)
    assert "<style" not in document
    assert " style=" not in document
    assert not re.search(r"\son[a-z]+=", document)  # no inline event handlers


def test_pictures_and_sound_on_gcs_may_come_from_their_signed_urls_and_nothing_else_widens(
    tmp_path: Path,
) -> None:
    on_files = Settings(data_dir=tmp_path)
    on_gcs = Settings(data_dir=tmp_path, media_url="gs://gaia-media/prod")
    assert page_policy(on_files) == PAGE_CSP
    directives = dict(part.strip().split(" ", 1) for part in page_policy(on_gcs).split(";"))
    assert directives["img-src"] == f"'self' data: {SIGNED_MEDIA_ORIGIN}"
    assert directives["media-src"] == f"'self' {SIGNED_MEDIA_ORIGIN}"
    widened = {"img-src", "media-src"}
    plain = dict(part.strip().split(" ", 1) for part in PAGE_CSP.split(";"))
    assert {k: v for k, v in directives.items() if k not in widened} == {
        k: v for k, v in plain.items() if k not in widened
    }
