"""An imported legacy campaign continues where it was: its characters and current scene show
through ``GET .../campaign``, and the narrator's prompt for its next turn holds them (both
stores)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from domain.ids import legacy_session_id
from migrate_legacy.job import Config, run
from tests.support.api import running
from tests.support.fake_llm import Answer, FakeLLM
from tests.support.legacy_corpus import MEMBER_ID, build_corpus
from tests.support.stores import StoreConfig

LEGACY_ID = "campaign_140"  # the corpus campaign with characters, scenes and combat files


@pytest.fixture
def imported(store: StoreConfig, tmp_path: Path) -> str:
    corpus = build_corpus(tmp_path / "legacy", big=False)
    config = Config(
        source=corpus.root,
        images=corpus.images,
        database_url=store.database_url,
        data_dir=store.data_dir,
    )
    report = run(config, stream=io.StringIO(), tty=False)
    entry = next(c for c in report["campaigns"] if c["source"].startswith(LEGACY_ID))
    assert entry["status"] in ("imported", "imported_partial"), entry
    return str(legacy_session_id(LEGACY_ID))


def _campaign(doc: dict[str, Any]) -> tuple[dict[str, str], Any]:
    return {c["character_id"]: c["name"] for c in doc["characters"]}, doc["scene"]


def test_an_imported_campaign_shows_its_characters_and_current_scene(
    store: StoreConfig, imported: str
) -> None:
    with running(store) as service:
        answer = service.call("GET", f"/api/sessions/{imported}/campaign", MEMBER_ID)
    assert answer.status_code == 200, answer.text
    characters, scene = _campaign(answer.json())
    assert characters == {"pc:kara_stormwind": "Kara", "npc:ferryman": "Ferryman"}
    assert scene["title"] == "Waystation"
    sources = {c["source"] for c in answer.json()["characters"]}
    assert sources == {"legacy"}


def test_the_next_narration_of_an_imported_campaign_is_told_its_party_and_scene(
    store: StoreConfig, imported: str
) -> None:
    with FakeLLM() as llm:
        llm.always(Answer(text='{"narrative": "The rain goes on.", "player_options": []}'))
        with running(store, llm_base_url=llm.base_url) as service:
            turn = service.call(
                "POST", f"/api/sessions/{imported}/turns", MEMBER_ID, json={"text": "I wait."}
            )
            assert turn.status_code == 202, turn.text
            service.narrated()
            (request,) = llm.wait_for_requests(1)
    system = request.json["messages"][0]["content"]
    assert "Waystation" in system
    assert "Kara (level 3)" in system
    assert "Ferryman (NPC)" in system
