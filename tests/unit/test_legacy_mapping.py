"""Mapping parsed legacy campaigns to steps, fates, counts and provenance (pure), on small
campaigns held in memory, and applying a plan to an in-memory session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain.application import Sessions
from domain.session import CampaignSession, TurnStatus
from migrate_legacy.campaign import ParsedCampaign, parse_campaign
from migrate_legacy.discovery import Candidate
from migrate_legacy.mapping import Options, Plan, map_campaign
from migrate_legacy.sources import Loaded, SourceFile
from migrate_legacy.steps import (
    AddMember,
    ImportMessage,
    ImportReply,
    ImportTurn,
    Preserve,
    RecordMedia,
    RecordState,
)
from migrate_legacy.timestamps import UTC_ZONE

PNG = b"\x89PNG fake"


def file(key: str, value: Any) -> Loaded:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256(data).hexdigest()
    reason = "empty_file" if not data else None
    return Loaded(SourceFile(Path("/s/c") / key, f"c/{key}", key), data, digest, len(data), reason)


def parsed(files: dict[str, Any], legacy_id: str = "campaign_1") -> ParsedCampaign:
    loaded = [file(key, value) for key, value in files.items()]
    candidate = Candidate(legacy_id, "L3", "c", [f.file for f in loaded], dir_name=legacy_id)
    return parse_campaign(candidate, loaded, UTC_ZONE)


def no_images(legacy_id: str, kind: str, name: str) -> Loaded | None:
    return None


def plan_of(files: dict[str, Any], **options: Any) -> Plan:
    return map_campaign(parsed(files), Options(UTC_ZONE, **options), no_images)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def dm(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def test_messages_become_turns_replies_and_unanswering_messages_in_array_order() -> None:
    history = [dm("intro"), {"role": "system", "content": "s"}, user("a"), user("b"), dm("r")]
    plan = plan_of({"logs/chat_history.json": history})
    kinds = [type(step) for step in plan.steps]
    assert kinds == [ImportMessage, ImportMessage, ImportTurn, ImportTurn, ImportReply]
    first, second = plan.steps[2], plan.steps[3]
    reply = plan.steps[4]
    assert isinstance(first, ImportTurn)
    assert isinstance(second, ImportTurn)
    assert isinstance(reply, ImportReply)
    assert reply.turn_id == second.turn_id
    assert [s.legacy["position"] for s in plan.steps if hasattr(s, "legacy")] == [0, 1, 2, 3, 4]


def test_a_repeated_reply_is_kept_as_a_narration_that_answers_no_turn() -> None:
    plan = plan_of({"logs/chat_history.json": [user("a"), dm("same"), dm("same")]})
    assert [type(s) for s in plan.steps] == [ImportTurn, ImportReply, ImportMessage]
    assert "possible_duplicate_message" in {n.code for n in plan.notices}


def test_a_history_ending_with_a_player_message_awaits_a_reply() -> None:
    plan = plan_of({"logs/chat_history.json": [dm("hi"), user("and?")]})
    assert plan.awaiting_reply
    last = plan.steps[-1]
    assert isinstance(last, ImportTurn)
    assert last.legacy["awaiting_reply"] is True


def test_an_unreadable_history_rejects_the_campaign_and_every_other_file() -> None:
    plan = plan_of({"logs/chat_history.json": b"[{", "data/characters/pc:a.json": {"name": "A"}})
    assert plan.status == "rejected"
    assert plan.steps == []
    assert plan.events == 0
    assert [(r.fate, r.reason) for r in plan.rows] == [
        ("rejected", "invalid_json"),
        ("rejected", "campaign_rejected"),
    ]


def test_a_rejected_side_file_leaves_the_campaign_partially_imported() -> None:
    plan = plan_of({"logs/chat_history.json": [user("a")], "data/scenes/s.json": b""})
    assert plan.status == "imported_partial"
    assert {n.code for n in plan.notices} >= {"empty_file"}


def test_every_file_gets_exactly_one_fate() -> None:
    files = {
        "metadata.json": {"name": "N"},
        "logs/chat_history.json": [user("a")],
        "logs/chat_history.backup.json": [user("a")],
        "data/campaign_data.json": {"title": "T"},
        "data/characters/pc:a.json": {"character_id": "pc:a"},
        "data/characters/character_summary.json": {},
        "data/structured/x.json": {},
        "data/notes.txt": b"free text",
        "image_metadata/i.json": {"filename": "i.png"},
    }
    plan = plan_of(files)
    fates = {row.path.removeprefix("c/"): row.fate for row in plan.rows}
    assert fates == {
        "metadata.json": "imported",
        "logs/chat_history.json": "imported",
        "logs/chat_history.backup.json": "preserved",
        "data/campaign_data.json": "imported",
        "data/characters/pc:a.json": "imported",
        "data/characters/character_summary.json": "preserved",
        "data/structured/x.json": "preserved",
        "data/notes.txt": "preserved",
        "image_metadata/i.json": "preserved",
    }
    assert plan.counts["preserved"] == 5
    assert plan.counts["characters"] == 1
    assert plan.counts["image_binaries_missing"] == 1


def test_preserved_content_says_whether_it_was_json_text_or_bytes() -> None:
    plan = plan_of({"data/a.json": {"x": 1}, "data/b.txt": b"t", "data/c.bin": b"\xff"})
    contents = [s.content for s in plan.steps if isinstance(s, Preserve)]
    assert contents[0] == {"json": {"x": 1}}
    assert contents[1] == {"text": "t"}
    assert contents[2]["binary"]["bytes"] == 1
    assert [b.rel for b in plan.binaries] == ["c/data/c.bin"]


def test_owner_and_members_come_from_metadata_and_no_owner_is_invented() -> None:
    metadata = {"owner_user_id": "u1", "owner_email": "gm@x", "member_user_ids": ["u1", "u2", "u2"]}
    plan = plan_of({"metadata.json": metadata})
    assert plan.start["owner"] == "u1"
    assert [s.user_id for s in plan.steps if isinstance(s, AddMember)] == ["u2"]
    assert plan.extra["ownership"]["source"] == "metadata"
    ownerless = plan_of({"metadata.json": {"owner_email": "gm@x"}})
    assert ownerless.start["owner"] is None
    assert ownerless.extra["ownership"] == {"source": "none", "owner_email": "gm@x"}
    assert "owner_email_only" in {n.code for n in ownerless.notices}


def test_a_default_owner_applies_only_to_ownerless_campaigns() -> None:
    assert plan_of({"metadata.json": {}}, default_owner="op").start["owner"] == "op"
    assert (
        plan_of({"metadata.json": {"owner_user_id": "u1"}}, default_owner="op").start["owner"]
        == "u1"
    )


def test_an_image_with_its_binary_becomes_media() -> None:
    binary = file("scene_abc.png", PNG)

    def finder(legacy_id: str, kind: str, name: str) -> Loaded | None:
        return (
            binary if (legacy_id, kind, name) == ("campaign_1", "scene", "scene_abc.png") else None
        )

    metadata = {"type": "scene", "storage_filename": "scene_abc.png", "mime_type": "image/png"}
    plan = map_campaign(
        parsed({"image_metadata/scene_abc.json": metadata}), Options(UTC_ZONE), finder
    )
    media = plan.steps[0]
    assert isinstance(media, RecordMedia)
    assert (media.filename, media.content_type, media.size) == ("scene_abc.png", "image/png", 9)
    assert media.legacy["metadata"] == metadata
    assert plan.counts["image_binaries"] == 1
    assert plan.rows[0].fate == "imported"


def test_image_file_names_never_escape_the_image_root() -> None:
    from migrate_legacy.files_map import image_file_name  # noqa: PLC0415

    assert image_file_name({"storage_path": "/srv/x/portraits/p.png"}) == "p.png"
    assert image_file_name({"filename": "../../etc/passwd"}) is None


def test_game_state_is_keyed_by_its_own_id_else_its_file_name() -> None:
    plan = plan_of(
        {
            "data/characters/pc:a.json": {"character_id": "pc:alpha"},
            "data/characters/npc:b.json": {"name": "B"},
            "data/combat/active/s - round 1.json": {},
        }
    )
    keys = {(s.kind, s.key) for s in plan.steps if isinstance(s, RecordState)}
    assert keys == {
        ("character", "pc:alpha"),
        ("character", "npc:b"),
        ("combat", "active/s - round 1.json"),
    }


def test_turn_files_are_recorded_by_turn_number_and_chain_breaks_reported() -> None:
    plan = plan_of(
        {
            "data/turns/b.json": {"turn_id": "b", "turn_number": 2, "previous_turn_id": "a"},
            "data/turns/a.json": {"turn_id": "a", "turn_number": 1, "next_turn_id": "z"},
        }
    )
    assert [s.key for s in plan.steps if isinstance(s, RecordState)] == ["a", "b"]
    assert "turn_chain_broken" in {n.code for n in plan.notices}


def test_the_fingerprint_changes_when_any_file_changes() -> None:
    one = plan_of({"logs/chat_history.json": [user("a")], "data/x.txt": b"1"})
    same = plan_of({"logs/chat_history.json": [user("a")], "data/x.txt": b"1"})
    other = plan_of({"logs/chat_history.json": [user("a")], "data/x.txt": b"2"})
    assert one.fingerprint == same.fingerprint != other.fingerprint


def test_the_provenance_lists_each_file_with_digest_size_fate_and_versions() -> None:
    plan = plan_of(
        {
            "metadata.json": {"member_user_ids": ["u2"]},
            "logs/chat_history.json": [user("a"), dm("b")],
            "data/x.txt": b"1",
        }
    )
    files = {f["path"]: f for f in plan.start["provenance"]["files"]}
    assert files["metadata.json"]["versions"] == [1, 2]  # SessionStarted, then the member
    assert files["logs/chat_history.json"]["versions"] == [3, 4]
    assert files["data/x.txt"]["versions"] == [5, 5]
    assert all({"sha256", "bytes", "fate"} <= set(f) for f in files.values())


def test_a_plan_applies_to_a_new_legacy_session() -> None:
    history = [dm({"narrative": "n"}), user("a"), dm("r"), user("b")]
    plan = plan_of({"metadata.json": {"owner_user_id": "u1"}, "logs/chat_history.json": history})
    sessions = Sessions()
    session = sessions.start_legacy_session(**plan.start)
    for step in plan.steps:
        step.apply(session)
    assert session.version == plan.events
    turns = [s for s in plan.steps if isinstance(s, ImportTurn)]
    assert session.turn_state(str(turns[0].turn_id)) == TurnStatus.NARRATED
    assert session.turn_state(str(turns[1].turn_id)) == TurnStatus.HELD
    assert session.pending_turns() == []
    assert isinstance(session, CampaignSession)
    assert session.origin["import"]["fingerprint"]
