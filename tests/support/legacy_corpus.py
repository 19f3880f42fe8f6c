"""A legacy storage tree generated from code (docs/legacy-format.md): every layout generation, the
global folders, orphans, conflicts across layers, superseded copies, hazards H1-H11 and unreadable
files.

``build_corpus(tmp)`` writes it and returns what a faithful migration must produce, so tests
compare against these expectations rather than against data files in the repository.

Unreadable files: tests run as root, for whom ``chmod 000`` blocks nothing. The corpus makes
files that cannot be read in other ways: a directory where ``logs/chat_history.json`` belongs,
and a FIFO (named pipe) among a campaign's custom files (opening it for reading would block).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
OWNER_ID, MEMBER_ID = "auth0|a1b2c3", "auth0|d4e5f6"


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@dataclass
class Expected:
    """What one campaign copy must become."""

    legacy_id: str
    layout: str
    source: str
    status: str
    messages: list[Any] = field(default_factory=list)
    warnings: set[str] = field(default_factory=set)
    display_name: str | None = None
    awaiting_reply: bool = False
    owner: str | None = None
    members: set[str] = field(default_factory=set)
    reasons: dict[str, str] = field(default_factory=dict)  # file (root-relative) -> reason
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Corpus:
    root: Path
    images: Path
    campaigns: list[Expected] = field(default_factory=list)
    orphan_sources: set[str] = field(default_factory=set)
    global_paths: set[str] = field(default_factory=set)

    def expected(self, source: str) -> Expected:
        return next(c for c in self.campaigns if c.source == source)

    def imported(self) -> list[Expected]:
        return [c for c in self.campaigns if c.status in ("imported", "imported_partial")]


def hazard_messages() -> list[Any]:
    """One history with H1-H3, H6, H7, every content form, aliases, extras and a trailing user
    message (awaiting a reply)."""
    return [
        {
            "role": "assistant",
            "timestamp": "2025-09-03T19:00:00.125000",
            "content": {
                "narrative": "Rain hammers the tin roof of the waystation.",
                "answer": "Welcome, travellers.",
                "turn": "Your turn: 1) Knock 2) Wait",
                "player_options": ["Knock", "Wait"],
                "audio": {
                    "success": True,
                    "id": "5e0c",
                    "url": "/api/media/audio/campaign_140/5e0c.mp3",
                    "mime_type": "audio/mpeg",
                    "duration_sec": 4.2,
                },
            },
        },
        {
            "role": "system",
            "content": "Session resumed.",
            "timestamp": "2025-09-03T19:00:00.125000",
        },
        {
            "role": "user",
            "content": "[CONTEXT] The ferryman owes Mira a favour.",
            "time": "2025-09-03T19:01:10",
            "character_name": "Player",
        },
        {
            "role": "user",
            "content": "I knock twice. 🚪 門を叩く שלום",
            "character_name": "Mira Fen",
            "character_id": "pc:mira_fen",
            "message_id": "msg_0123456789ab",
            "turn_number": 1,
            "has_audio": False,
        },
        {
            "role": "assistant",
            "content": '{"narrative": "The door creaks.", "answer": "Who goes?"}',
            "timestamp": "2025-09-03T19:02:41.5Z",
            "response_type": "narration",
            "agent_name": "dm",
        },
        {
            "role": "dm",
            "content": '{"narrative": "The door creaks.", "answer": "Who goes?"}',
            "timestamp": "2025-09-03T19:02:41.6Z",
        },
        {
            "role": "player",
            "content": "I wait.",
            "character_name": "Mira Fen",
            "timestamp": "2025-09-03T19:01:00+00:00",
        },
        {
            "role": "assistant",
            "content": "{laughs} The innkeeper waves you in.",
            "timestamp": "not a time",
        },
        {
            "role": "user",
            "content": "",
            "character_name": "Mira Fen",
            "timestamp": "2025-09-03T19:05:00",
        },
        {"role": "assistant", "content": ["an", "odd", "list"], "timestamp": "2025-09-03T19:05:01"},
        {"role": "narrator", "content": "an unknown role", "timestamp": "2025-09-03T19:05:02"},
        "a bare string where a message belongs",
        {
            "role": "user",
            "content": "I step inside.",
            "character_name": "Mira Fen",
            "timestamp": "2025-09-03T19:06:00",
        },
    ]


def campaign_140(root: Path, images: Path, corpus: Corpus) -> None:
    """L3 with every kind of file, owner and members, an image with and one without a binary."""
    d = root / "campaign_140"
    messages = hazard_messages()
    write_json(
        d / "metadata.json",
        {
            "campaign_id": "campaign_140",
            "name": "The Shattered Starfall",
            "title": "The Shattered Starfall",
            "game_style": "balanced",
            "max_player_seats": 3,
            "status": "active",
            "created_at": "2025-11-02T18:02:11.402113+00:00",
            "updated_at": "2025-11-02T10:15:43.118001",
            "message_count": 99,
            "owner_user_id": OWNER_ID,
            "owner_email": "gm@example.com",
            "member_user_ids": [OWNER_ID, MEMBER_ID],
            "member_emails": ["gm@example.com", "ada@example.com"],
            "last_messaged_at": "2025-09-03T19:06:00",
        },
    )
    write_json(d / "logs/chat_history.json", messages)
    write_json(
        d / "logs/chat_history.backup.json", [messages[0], {"role": "user", "content": "lost"}]
    )
    write_json(
        d / "data/campaign_data.json",
        {
            "campaign_id": "campaign_140",
            "title": "Starfall",
            "scenes": {"s1": {"title": "inline"}},
            "custom_data": {},
        },
    )
    write_json(
        d / "data/characters/pc:kara_stormwind.json",
        {
            "character_id": "pc:kara_stormwind",
            "name": "Kara",
            "level": 3,
            "inventory": {"rope": {"qty": 1}},
        },
    )
    write_json(
        d / "data/characters/npc:ferryman.json",
        {"name": "Ferryman", "abilities": {"row": {"uses_left": 2}}},
    )
    write_json(d / "data/characters/character_summary.json", {"count": 2})
    write_json(
        d / "data/scenes/scene_1.json",
        {
            "scene_id": "scene_1",
            "title": "Waystation",
            "objectives": [],
            "_metadata": {"version": 1},
        },
    )
    write_json(
        d / "data/scenes/scene_20250903_190000.json",
        {"id": "raw1", "timestamp": "x", "output": "free text"},
    )
    write_json(
        d / "data/turns/turn_0001_ab12cd.json",
        {
            "turn_id": "turn_0001_ab12cd",
            "turn_number": 1,
            "next_turn_id": "turn_0002_ef34gh",
            "previous_turn_id": None,
        },
    )
    write_json(
        d / "data/turns/turn_0002_ef34gh.json",
        {
            "turn_id": "turn_0002_ef34gh",
            "turn_number": 2,
            "previous_turn_id": "WRONG",
            "player_id": "p1",
        },
    )
    write_json(
        d / "data/combat/active/scene_1 - round 1.json",
        {"session_id": "scene_1 - round 1", "status": "in_progress", "combatants": {}},
    )
    write_bytes(
        d / "data/combat/active/event_log.jsonl",
        b'{"event_id": "e1", "event_type": "attack"}\n\n{"event_id": "e2", "event_type": "move"}\n',
    )
    write_json(
        d / "data/combat/history/combat_20250101_101010_scene_0 - round 3.json",
        {"status": "completed"},
    )
    write_bytes(
        d / "data/combat/history/combat_2025-01-01_10-00/event_log.jsonl", b'{"event_id": "e0"}\n'
    )
    write_json(d / "data/combat/history/combat_2025-01-01_10-00/metrics.json", {"rounds": 3})
    write_bytes(
        d / "data/combat/history/combat_2025-01-01_10-00/debug_log.txt", "débogage\n".encode()
    )
    write_json(
        d / "data/summaries/summary_turn_0005.json",
        {"summary": "So far...", "metadata": {"turn_number": 5}},
    )
    write_json(d / "data/structured/reply_1.json", {"narrative": "kept verbatim"})
    write_json(d / "data/house_rules.json", {"crits": "double"})
    write_bytes(d / "data/blob.bin", b"\x00\xff\xfe binary")
    write_json(
        d / "image_metadata/scene_abc.json",
        {
            "prompt": "a waystation",
            "type": "scene",
            "storage_filename": "scene_abc.png",
            "mime_type": "image/png",
            "size": "1024x1024",
            "local_path": "/srv/legacy/scene_abc.png",
            "timestamp": "2025-09-03T19:00:05",
        },
    )
    write_json(
        d / "image_metadata/portrait_gone.json",
        {"prompt": "Kara", "type": "portrait", "filename": "gone.png", "size": 12345},
    )
    write_json(
        d / "scene_image_sets/0d8f7e86-4c1e-4c59-a6e5-0d0a2b6c1f00.json",
        {"set_id": "s", "images": []},
    )
    write_bytes(images / "campaign_140/scenes/scene_abc.png", PNG)
    corpus.campaigns.append(
        Expected(
            "campaign_140",
            "L3",
            "campaign_140",
            "imported",
            messages,
            warnings={
                "message_count_mismatch",
                "identical_timestamps",
                "missing_timestamps",
                "mixed_timezones",
                "non_monotonic_timestamps",
                "unparseable_timestamp",
                "possible_duplicate_message",
                "backup_has_unimported_messages",
                "missing_image_binary",
                "unknown_role",
                "malformed_message",
                "turn_chain_broken",
            },
            display_name="The Shattered Starfall",
            awaiting_reply=True,
            owner=OWNER_ID,
            members={OWNER_ID, MEMBER_ID},
            counts={
                "messages": len(messages),
                "characters": 2,
                "scenes": 2,
                "turns": 2,
                "summaries": 1,
                "structured": 1,
                "image_metadata": 2,
                "scene_image_sets": 1,
                "combat_files": 6,
                "image_binaries": 1,
                "image_binaries_missing": 1,
                "audio_refs": 1,
                "preserved": 9,
            },
        )
    )


def simple_history(n: int, *, start: int = 0, prefix: str = "turn") -> list[dict[str, Any]]:
    """``n`` alternating user/assistant messages with distinct content."""
    out: list[dict[str, Any]] = []
    for i in range(start, start + n):
        role = "user" if i % 2 == 0 else "assistant"
        content = (
            f"{prefix} {i}: I look around." if role == "user" else f"{prefix} {i}: You see a door."
        )
        out.append(
            {
                "role": role,
                "content": content,
                "timestamp": f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}",
            }
        )
    return out


def small_campaigns(root: Path, images: Path, corpus: Corpus) -> None:
    """L3 variants: a UUID id with a wrapped history in the fallback place, a test campaign, a
    renamed directory whose metadata name differs, and the rejected and partial cases."""
    uid = "9b2f6c1e-8d4a-4f3b-9c2e-1a2b3c4d5e6f"
    wrapped = simple_history(3)
    write_json(root / uid / "chat_history.json", {"messages": wrapped, "version": 2})
    corpus.campaigns.append(
        Expected(
            uid,
            "L3",
            uid,
            "imported",
            wrapped,
            {"history_fallback_location"},
            display_name=uid,
            awaiting_reply=True,
        )
    )
    test_id = "test-camp-1a2b3c4d"
    write_json(root / test_id / "metadata.json", {"display_name": "  Émoji 🐉 キャンペーン  "})
    write_json(root / test_id / "logs/chat_history.json", [])
    corpus.campaigns.append(
        Expected(
            test_id,
            "L3",
            test_id,
            "imported",
            [],
            {"test_campaign", "empty_history"},
            display_name="Émoji 🐉 キャンペーン",
        )
    )
    renamed = "campaign_21 - Siege - Part Two"
    history = simple_history(2)
    write_json(root / renamed / "metadata.json", {"name": "Siege, Part Two!", "message_count": 2})
    write_json(root / renamed / "logs/chat_history.json", history)
    write_bytes(
        root / renamed / "image_metadata/flat.json",
        json.dumps(
            {"type": "portrait", "storage_path": "/srv/x/portraits/flat_portrait.png"}
        ).encode(),
    )
    write_bytes(images / "flat_portrait.png", PNG[::-1])
    corpus.campaigns.append(
        Expected(
            "campaign_21",
            "L3",
            renamed,
            "imported",
            history,
            {"name_mismatch"},
            display_name="Siege, Part Two!",
            counts={"image_binaries": 1, "image_metadata": 1},
        )
    )
    # docs/legacy-format.md#unreadable: the history or the metadata unreadable rejects the whole
    # campaign.
    write_bytes(root / "campaign_30/logs/chat_history.json", b'[{"role": "user", "content": "trunc')
    write_json(root / "campaign_30/data/characters/pc:a.json", {"name": "A"})
    corpus.campaigns.append(
        Expected(
            "campaign_30",
            "L3",
            "campaign_30",
            "rejected",
            warnings={"invalid_json"},
            reasons={
                "campaign_30/logs/chat_history.json": "invalid_json",
                "campaign_30/data/characters/pc:a.json": "campaign_rejected",
            },
        )
    )
    write_bytes(root / "campaign_31/metadata.json", b"")
    write_json(root / "campaign_31/logs/chat_history.json", simple_history(2))
    corpus.campaigns.append(
        Expected(
            "campaign_31",
            "L3",
            "campaign_31",
            "rejected",
            warnings={"empty_file"},
            reasons={
                "campaign_31/metadata.json": "empty_file",
                "campaign_31/logs/chat_history.json": "campaign_rejected",
            },
        )
    )
    (root / "campaign_32/logs/chat_history.json").mkdir(parents=True)  # a directory: unreadable
    write_json(root / "campaign_32/metadata.json", {"name": "Thirty-two"})
    corpus.campaigns.append(
        Expected(
            "campaign_32",
            "L3",
            "campaign_32",
            "rejected",
            warnings={"unreadable"},
            reasons={
                "campaign_32/logs/chat_history.json": "unreadable",
                "campaign_32/metadata.json": "campaign_rejected",
            },
        )
    )
    write_json(root / "campaign_34/metadata.json", ["not", "an", "object"])
    write_json(root / "campaign_34/logs/chat_history.json", simple_history(1))
    corpus.campaigns.append(
        Expected("campaign_34", "L3", "campaign_34", "rejected", warnings={"unreadable"})
    )
    partial = simple_history(4)
    write_json(root / "campaign_33/logs/chat_history.json", partial)
    write_bytes(root / "campaign_33/data/characters/pc:broken.json", b'{"name": ')
    write_bytes(root / "campaign_33/data/scenes/empty.json", b"")
    (root / "campaign_33/data").mkdir(parents=True, exist_ok=True)
    os.mkfifo(root / "campaign_33/data/pipe.json")  # a FIFO: unreadable, must not block
    write_json(root / "campaign_33/data/characters/pc:ok.json", {"name": "Ok"})
    corpus.campaigns.append(
        Expected(
            "campaign_33",
            "L3",
            "campaign_33",
            "imported_partial",
            partial,
            {"invalid_json", "empty_file", "unreadable"},
            reasons={
                "campaign_33/data/characters/pc:broken.json": "invalid_json",
                "campaign_33/data/scenes/empty.json": "empty_file",
                "campaign_33/data/pipe.json": "unreadable",
            },
            counts={"characters": 1, "scenes": 0},
        )
    )
    # Not a campaign: a stray folder holding only image metadata.
    write_json(root / "default/image_metadata/x.json", {"prompt": "stray"})
    corpus.orphan_sources.add("default")


def big_campaign(root: Path, corpus: Corpus) -> None:
    """2,000 messages, one of them 100 KB, and a JSON-string reply, byte for byte."""
    history = simple_history(2000, prefix="long")
    history[1000]["content"] = "A" * 50_000 + " 長い " + "B" * 50_000
    history[1001]["content"] = json.dumps(
        {"narrative": "x" * 100_000, "answer": "y"}, ensure_ascii=False
    )
    write_json(root / "campaign_50/logs/chat_history.json", history)
    corpus.campaigns.append(
        Expected(
            "campaign_50",
            "L3",
            "campaign_50",
            "imported",
            history,
            set(),
            display_name="campaign_50",
        )
    )


def l2_and_l1(root: Path, corpus: Corpus) -> None:
    """Environments, pregenerated content, a lower copy superseded by L3, copies in conflict,
    an orphan, and L1 flat files with their data files."""
    c = root / "campaigns"
    mine = simple_history(6, prefix="mine")
    write_json(c / "prod/campaign_7 - The Lost Mine/logs/chat_history.json", mine)
    corpus.campaigns.append(
        Expected(
            "campaign_7",
            "L2",
            "campaigns/prod/campaign_7 - The Lost Mine",
            "imported",
            mine,
            display_name="The Lost Mine",
        )
    )
    write_json(c / "stg/campaign_7/logs/chat_history.json", simple_history(2, prefix="other"))
    corpus.campaigns.append(Expected("campaign_7", "L2", "campaigns/stg/campaign_7", "conflict"))
    write_json(c / "logs/campaign_7_old_mine.json", mine[:3])  # L1, a prefix of the L2 copy
    corpus.campaigns.append(
        Expected("campaign_7", "L1", "campaigns/logs/campaign_7_old_mine.json", "rejected")
    )
    lanterns = simple_history(2, prefix="vey")
    write_json(c / "prod/default - Lanterns of Vey/logs/chat_history.json", lanterns)
    corpus.campaigns.append(
        Expected(
            "default - Lanterns of Vey",
            "L2",
            "campaigns/prod/default - Lanterns of Vey",
            "imported",
            lanterns,
            display_name="Lanterns of Vey",
        )
    )
    write_json(c / "prod/campaign_140 - Starfall/logs/chat_history.json", hazard_messages()[:2])
    corpus.campaigns.append(
        Expected("campaign_140", "L2", "campaigns/prod/campaign_140 - Starfall", "rejected")
    )
    write_json(c / "prod/pregenerated/campaigns.json", [])
    corpus.global_paths.add("campaigns/prod/pregenerated")
    write_bytes(c / "stg/stray_folder/notes.txt", b"not a campaign")
    corpus.orphan_sources.add("campaigns/stg/stray_folder")
    write_json(
        c / "local/campaign_60/data/campaign_data.json",
        {
            "title": "Database Days",
            "custom_data": {"scene_storage_mode": "database", "campaign_uuid": "u-60"},
        },
    )
    corpus.campaigns.append(
        Expected(
            "campaign_60",
            "L2",
            "campaigns/local/campaign_60",
            "imported",
            [],
            {"empty_history", "scenes_in_database"},
            display_name="Database Days",
        )
    )
    salt = simple_history(5, prefix="salt")
    write_json(c / "logs/campaign_2_the_salt_road.json", salt)
    write_json(c / "data/campaign_2_the_salt_road_data.json", {"description": "no title here"})
    corpus.campaigns.append(
        Expected(
            "campaign_2",
            "L1",
            "campaigns/logs/campaign_2_the_salt_road.json",
            "imported",
            salt,
            display_name="The Salt Road",
            awaiting_reply=True,
        )
    )
    ashes = simple_history(2, prefix="ash")
    write_json(c / "logs/campaign_3.json", ashes)
    write_json(c / "data/campaign_3_data.json", {"title": "Ashes"})
    corpus.campaigns.append(
        Expected(
            "campaign_3",
            "L1",
            "campaigns/logs/campaign_3.json",
            "imported",
            ashes,
            display_name="Ashes",
        )
    )
    write_json(c / "logs/notes.json", {"todo": 1})
    corpus.orphan_sources.add("campaigns/logs/notes.json")
    write_json(c / "data/campaign_99_data.json", {"title": "no log"})
    corpus.orphan_sources.add("campaigns/data/campaign_99_data.json")


def global_folders(root: Path, images: Path, corpus: Corpus) -> None:
    write_bytes(root / ".git/HEAD", b"ref: refs/heads/main\n")
    write_bytes(root / "README", b"campaign storage\n")
    write_json(root / "characters/pc:kara.json", {"name": "Kara", "campaigns": ["campaign_140"]})
    write_json(root / "character_profiles/prof_pc:kara.json", {"name": "Kara"})
    write_json(root / "npc_profiles/npc:ferryman.json", {"npc_id": "npc:ferryman"})
    write_json(root / "pregenerated/campaigns.json", [])
    write_json(root / "shared/npc_profiles/npc:ferryman.json", {"npc_id": "npc:ferryman"})
    write_json(images / "metadata/old.json", {"prompt": "old global metadata"})
    corpus.global_paths |= {
        ".git",
        "README",
        "characters",
        "character_profiles",
        "npc_profiles",
        "pregenerated",
        "shared",
        "metadata",
    }


def build_corpus(tmp: Path, *, big: bool = True) -> Corpus:
    root, images = tmp / "storage", tmp / "images"
    root.mkdir(parents=True)
    images.mkdir(parents=True)
    corpus = Corpus(root, images)
    global_folders(root, images, corpus)
    campaign_140(root, images, corpus)
    small_campaigns(root, images, corpus)
    l2_and_l1(root, corpus)
    if big:
        big_campaign(root, corpus)
    return corpus


def original_message(message: dict[str, Any]) -> Any:
    """The legacy message a migrated history message came from, rebuilt from its ``legacy``
    record and its fields, keys in their original order."""
    legacy = message["legacy"]
    if legacy.get("entry") == "value":
        return legacy["content"]
    character = message.get("character") or {}
    known = {
        "role": lambda: legacy["role"],
        "content": lambda: legacy["content"],
        legacy.get("timestamp_key"): lambda: legacy["timestamp"],
        "message_id": lambda: legacy["message_id"],
        "character_name": lambda: character["name"],
        "character_id": lambda: character["id"],
    }
    out: dict[str, Any] = {}
    for key in legacy["keys"]:
        out[key] = legacy["extras"][key] if key in legacy["extras"] else known[key]()
    return out
