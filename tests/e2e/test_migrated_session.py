"""A campaign imported by the migration job is playable through the API: its legacy members
open it, a new turn lands after the imported history and is narrated, and the turn that was
awaiting a reply is narrated only when someone asks (both stores)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from domain.ids import legacy_session_id
from migrate_legacy.job import Config, run
from tests.support.api import Service, running
from tests.support.legacy_corpus import simple_history, write_json
from tests.support.stores import StoreConfig

OWNER, MEMBER, STRANGER = "auth0|owner", "auth0|member", "auth0|stranger"
LEGACY_ID = "campaign_77"


@pytest.fixture
def migrated(store: StoreConfig, tmp_path: Path) -> str:
    source = tmp_path / "legacy"
    write_json(
        source / f"{LEGACY_ID} - The Salt Road/metadata.json",
        {"name": "The Salt Road", "owner_user_id": OWNER, "member_user_ids": [OWNER, MEMBER]},
    )
    history = simple_history(5)  # ends with a player message: awaiting a reply
    write_json(source / f"{LEGACY_ID} - The Salt Road/logs/chat_history.json", history)
    config = Config(source=source, database_url=store.database_url, data_dir=store.data_dir)
    report = run(config, stream=io.StringIO(), tty=False)
    assert report["campaigns"][0]["status"] == "imported"
    return str(legacy_session_id(LEGACY_ID))


def messages(service: Service, sid: str, user: str) -> list[dict[str, Any]]:
    answer = service.call("GET", f"/api/sessions/{sid}/history", user, params={"limit": 500})
    assert answer.status_code == 200, answer.text
    result: list[dict[str, Any]] = answer.json()["messages"]
    return result


def test_the_legacy_owner_and_member_open_the_session_and_strangers_do_not(
    store: StoreConfig, migrated: str
) -> None:
    with running(store) as service:
        for user, role in ((OWNER, "owner"), (MEMBER, "player")):
            answer = service.call("GET", f"/api/sessions/{migrated}", user)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["my_role"] == role
            assert body["origin"] == {"kind": "legacy", "legacy_id": LEGACY_ID}
            assert body["title"] == "The Salt Road"
        assert service.call("GET", f"/api/sessions/{migrated}", STRANGER).status_code == 404
        listed = service.call("GET", "/api/sessions", MEMBER).json()["sessions"]
        assert [s["session_id"] for s in listed] == [migrated]


def test_a_new_turn_lands_after_the_imported_history_and_is_narrated(
    store: StoreConfig, migrated: str
) -> None:
    with running(store) as service:
        imported = messages(service, migrated, MEMBER)
        assert len(imported) == 5
        turn = service.call(
            "POST", f"/api/sessions/{migrated}/turns", MEMBER, json={"text": "I follow the road."}
        )
        assert turn.status_code == 202, turn.text
        service.narrated()
        after = messages(service, migrated, MEMBER)
    assert after[:5] == imported
    assert after[4]["held"] is True  # the imported turn awaiting a reply was not narrated
    new_turn, reply = after[5:]
    assert (new_turn["text"], new_turn["turn_id"]) == ("I follow the road.", turn.json()["turn_id"])
    assert (reply["role"], reply["turn_id"]) == ("narrator", new_turn["turn_id"])


def test_the_turn_awaiting_a_reply_is_narrated_when_retried(
    store: StoreConfig, migrated: str
) -> None:
    with running(store) as service:
        held = messages(service, migrated, OWNER)[-1]
        assert held["held"] is True
        assert held["legacy"]["awaiting_reply"] is True
        retry = service.call(
            "POST", f"/api/sessions/{migrated}/turns/{held['turn_id']}/retry", OWNER
        )
        assert retry.status_code == 202, retry.text
        service.narrated()
        after = messages(service, migrated, OWNER)
    assert after[-1]["role"] == "narrator"
    assert after[-1]["turn_id"] == held["turn_id"]
    assert "held" not in after[-2]
