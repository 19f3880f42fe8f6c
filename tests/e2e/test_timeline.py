"""Reading a session's past over HTTP: the audit timeline, the state at any version, and the
hash-chained export with its signed trailer and the public key every instance serves, on a
seeded campaign full of rewinds, retries and member changes."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.adapters.config import store_env
from domain.adapters.event_store import open_sessions
from projections.records import event_record
from projections.timeline import EVENT_TOPICS
from tests.support.api import Service, running
from tests.support.stores import StoreConfig
from tests.support.story import GM, play_story, start_story
from tests.support.timeline import as_json, fresh_fold, history, page_through, rechain

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def story_service(store: StoreConfig, events: int) -> Iterator[tuple[Service, str]]:
    """A campaign of exactly ``events`` events written before the service starts (cold views)."""
    sessions = open_sessions(store_env(store.database_url, store.data_dir, name="gaia"))
    try:
        session_id = start_story(sessions)
        play_story(sessions, session_id, events=events)
    finally:
        sessions.close()
    with running(store) as service:
        yield service, str(session_id)


@pytest.fixture
def campaign(store: StoreConfig) -> Iterator[tuple[Service, str]]:
    with story_service(store, 240) as served:
        yield served


def stored_records(service: Service, sid: str) -> list[dict[str, object]]:
    events = service.state.sessions.events.get(UUID(sid))
    return [as_json(event_record(event)) for event in events]


# -- timeline ----------------------------------------------------------------------------------


def test_the_timeline_pages_through_every_stored_event_in_version_order(
    campaign: tuple[Service, str],
) -> None:
    service, sid = campaign
    path = f"/api/sessions/{sid}/timeline"
    events = page_through(service, path, GM, "events", limit=37)
    assert events == stored_records(service, sid)
    assert [e["version"] for e in events] == list(range(1, 241))
    first = service.call("GET", path, GM, params={"limit": 10, "after": 100}).json()
    assert [e["version"] for e in first["events"]] == list(range(101, 111))
    assert first["next_after"] == 110
    assert first["version"] == 240


def test_the_timeline_filters_by_event_type_across_pages(campaign: tuple[Service, str]) -> None:
    service, sid = campaign
    wanted = {"TurnSubmitted", "TimelineRewound", "MemberRemoved"}
    events = page_through(
        service, f"/api/sessions/{sid}/timeline", GM, "events", limit=5, types=",".join(wanted)
    )
    expected = [r for r in stored_records(service, sid) if r["type"] in wanted]
    assert events == expected
    assert {e["type"] for e in events} == wanted


def test_the_timeline_keeps_rewound_events_and_names_the_hidden_ranges(
    campaign: tuple[Service, str],
) -> None:
    service, sid = campaign
    body = service.call("GET", f"/api/sessions/{sid}/timeline", GM, params={"limit": 500}).json()
    session = service.state.sessions.get(UUID(sid))
    assert body["hidden"] == session.hidden != []
    hidden_versions = {v for low, high in session.hidden for v in range(low, high + 1)}
    assert hidden_versions <= {e["version"] for e in body["events"]}
    shown = {m["version"] for m in history(service, sid, GM)}
    assert not hidden_versions & shown


def test_every_event_type_name_is_accepted_as_a_filter(service: Service) -> None:
    sid = service.call("POST", "/api/campaigns/new", GM, json={"title": "Types"}).json()[
        "session_id"
    ]
    response = service.call(
        "GET", f"/api/sessions/{sid}/timeline", GM, params={"types": ",".join(EVENT_TOPICS)}
    )
    assert response.status_code == 200
    assert [e["type"] for e in response.json()["events"]] == ["SessionStarted"]


# -- state at a version ------------------------------------------------------------------------


def test_state_at_random_versions_equals_a_fresh_replay(campaign: tuple[Service, str]) -> None:
    service, sid = campaign
    sessions = service.state.sessions
    versions = [1, 2, 240, *random.Random(11).sample(range(3, 240), 12)]  # noqa: S311 - a seeded sample
    for n in versions:
        path = f"/api/sessions/{sid}/state"
        messages = page_through(service, path, GM, "messages", at_version=n, limit=50)
        state = service.call("GET", path, GM, params={"at_version": n, "limit": 1}).json()
        replay = fresh_fold(sessions, UUID(sid), n)
        aggregate = sessions.get(UUID(sid), version=n)
        assert messages == as_json(replay.visible_messages()), n
        assert state["version"] == n
        assert state["current_version"] == 240
        assert state["title"] == replay.title == aggregate.title
        members = {m["user_id"]: (m["display_name"], m["role"]) for m in state["members"]}
        assert members == {
            user: (m["display_name"], m["role"]) for user, m in aggregate.members.items()
        }
        assert members == {
            user: (m["display_name"], m["role"]) for user, m in replay.members.items()
        }
        assert state["owner"]["user_id"] == aggregate.owner == GM
        assert state["created_at"] == replay.created_at


def test_state_without_history_answers_title_and_members_only(
    campaign: tuple[Service, str],
) -> None:
    service, sid = campaign
    full = service.call("GET", f"/api/sessions/{sid}/state", GM, params={"at_version": 120}).json()
    bare = service.call(
        "GET", f"/api/sessions/{sid}/state", GM, params={"at_version": 120, "history": "false"}
    ).json()
    assert "messages" not in bare
    assert bare == {k: v for k, v in full.items() if k not in ("messages", "next_after")}
    assert bare["position"] > 0
    assert bare["my_role"] == "owner"


# -- export ------------------------------------------------------------------------------------


def record_of(line: dict[str, object]) -> dict[str, object]:
    """The timeline record an export line was made from."""
    fields = ("version", "recorded_at", "occurred_at", "actor", "data")
    return {"type": line["event_type"]} | {key: line[key] for key in fields}


def verify_cli(path: Path, *public_key: str) -> subprocess.CompletedProcess[str]:
    key_args = ["--public-key", *public_key] if public_key else []
    return subprocess.run(
        [sys.executable, "-m", "api", "verify-export", str(path), *key_args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.slow
def test_a_thousand_event_session_exports_over_http_and_verifies(
    store: StoreConfig, tmp_path: Path
) -> None:
    with story_service(store, 1000) as (service, sid):
        response = service.call("GET", f"/api/sessions/{sid}/export", GM)
        records = stored_records(service, sid)
        title = service.state.sessions.get(UUID(sid)).title
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "content-length" not in response.headers  # streamed, not built up front
    assert f"gaia-{sid}-v1000.ndjson" in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[0]["session_id"] == sid
    assert lines[0]["title"] == title
    assert [line["version"] for line in lines[1:-1]] == list(range(1, 1001))
    assert [record_of(line) for line in lines[1:-1]] == records
    export = tmp_path / "export.ndjson"
    export.write_bytes(response.content)
    verified = verify_cli(export)
    assert verified.returncode == 0, verified.stderr
    assert "1000 events" in verified.stdout
    assert lines[-1]["final_hash"] in verified.stdout
    lines_text = response.text.splitlines()
    export.write_text("\n".join(lines_text[:500] + lines_text[501:]) + "\n", encoding="utf-8")
    dropped = verify_cli(export)
    assert dropped.returncode == 1
    assert "line 501" in dropped.stderr


def export_key_cli(store: StoreConfig, **settings: str) -> dict[str, str]:
    """``python -m api export-key`` with the service's settings, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIA_")}
    env |= {"GAIA_DATA_DIR": str(store.data_dir), "GAIA_DATABASE_URL": store.database_url or ""}
    env |= {f"GAIA_{name.upper()}": value for name, value in settings.items()}
    printed = subprocess.run(
        [sys.executable, "-m", "api", "export-key"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    key: dict[str, str] = json.loads(printed.stdout)
    return key


def exported(service: Service, sid: str, path: Path) -> list[str]:
    response = service.call("GET", f"/api/sessions/{sid}/export", GM)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return response.text.splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.slow
def test_an_export_verifies_with_the_key_that_every_instance_and_the_cli_show(
    store: StoreConfig, tmp_path: Path
) -> None:
    with story_service(store, 120) as (service, sid):
        lines = exported(service, sid, tmp_path / "export.ndjson")
        served = service.client.get("/api/export-key")  # no credentials needed
    assert served.status_code == 200, served.text
    key = served.json()
    assert set(key) == {"key_id", "algorithm", "public_key", "pem"}
    assert key["algorithm"] == "Ed25519"
    assert json.loads(lines[-1])["key_id"] == key["key_id"]
    assert export_key_cli(store) == key
    with running(store) as other:  # another instance on the same data directory
        assert other.client.get("/api/export-key").json() == key
        assert exported(other, sid, tmp_path / "again.ndjson")[1:-1] == lines[1:-1]

    for path in (tmp_path / "export.ndjson", tmp_path / "again.ndjson"):
        verified = verify_cli(path, key["public_key"])
        assert verified.returncode == 0, verified.stderr
        assert f"signature valid (key {key['key_id']})" in verified.stdout
    unchecked = verify_cli(tmp_path / "export.ndjson")
    assert unchecked.returncode == 0, unchecked.stderr
    assert "signature NOT checked" in unchecked.stdout

    cut = write_lines(tmp_path / "cut.ndjson", rechain([*lines[:-21], lines[-1]]))
    assert verify_cli(cut).returncode == 0  # the chain alone cannot tell
    refused = verify_cli(cut, key["public_key"])
    assert refused.returncode == 1
    assert f"INVALID at line {len(lines) - 20}: the trailer's signature does not match" in (
        refused.stderr
    )
    repeated = lines[5].replace("{", '{"actor":"someone-else",', 1)
    twice = write_lines(tmp_path / "twice.ndjson", [*lines[:5], repeated, *lines[6:]])
    refused = verify_cli(twice, key["public_key"])
    assert refused.returncode == 1
    assert "INVALID at line 6: the line repeats the key 'actor'" in refused.stderr


@pytest.mark.slow
def test_instances_given_the_signing_key_sign_with_it_whatever_their_data_directory(
    store: StoreConfig, tmp_path: Path
) -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    with story_service(store, 40) as (generated, sid):
        own_key = generated.client.get("/api/export-key").json()
    with running(store, export_signing_key=pem) as one:
        exported(one, sid, tmp_path / "export.ndjson")
        key = one.client.get("/api/export-key").json()
    assert key["key_id"] != own_key["key_id"]
    with running(store, export_signing_key=base64.b64encode(raw).decode()) as two:
        assert two.client.get("/api/export-key").json() == key
    assert export_key_cli(store, export_signing_key=pem) == key
    verified = verify_cli(tmp_path / "export.ndjson", key["public_key"])
    assert verified.returncode == 0, verified.stderr
    other = verify_cli(tmp_path / "export.ndjson", own_key["public_key"])
    assert other.returncode == 1
    assert f"signed with key {key['key_id']}, not with the given key" in other.stderr
