"""Finding legacy campaigns on disk: layouts, global folders, orphans, L1 data files, --env,
and files that cannot be read (a directory or a FIFO where a file belongs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrate_legacy.discovery import UnknownEnvironment, discover
from migrate_legacy.sources import SourceFile, load
from tests.support.legacy_corpus import write_bytes, write_json


def test_top_level_folders_are_l3_candidates_except_global_and_hidden_ones(tmp_path: Path) -> None:
    write_json(tmp_path / "campaign_1/metadata.json", {})
    write_json(tmp_path / "characters/pc:a.json", {})
    write_bytes(tmp_path / ".git/HEAD", b"x")
    write_bytes(tmp_path / "README", b"x")
    found = discover(tmp_path)
    assert [(c.legacy_id, c.layout) for c in found.campaigns] == [("campaign_1", "L3")]
    assert {g.path for g in found.global_items} == {".git", "README", "characters"}


def test_a_candidate_without_any_campaign_file_is_an_orphan(tmp_path: Path) -> None:
    write_json(tmp_path / "default/image_metadata/x.json", {})
    write_json(tmp_path / "campaign_2/chat_history.json", [])
    found = discover(tmp_path)
    assert [o.source for o in found.orphans] == ["default"]
    assert [c.legacy_id for c in found.campaigns] == ["campaign_2"]


def test_environments_hold_l2_campaigns_and_pregenerated_content(tmp_path: Path) -> None:
    write_json(tmp_path / "campaigns/prod/campaign_7 - Mine/logs/chat_history.json", [])
    write_json(tmp_path / "campaigns/prod/pregenerated/campaigns.json", [])
    write_json(tmp_path / "campaigns/stg/default - Vey/data/campaign_data.json", {})
    found = discover(tmp_path)
    assert [(c.legacy_id, c.env) for c in found.campaigns] == [
        ("campaign_7", "prod"),
        ("default - Vey", "stg"),
    ]
    assert [g.path for g in found.global_items] == ["campaigns/prod/pregenerated"]


def test_env_limits_the_l2_scan_and_an_unknown_env_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "campaigns/prod/campaign_7/metadata.json", {})
    write_json(tmp_path / "campaigns/stg/campaign_8/metadata.json", {})
    found = discover(tmp_path, env="stg")
    assert [c.legacy_id for c in found.campaigns] == ["campaign_8"]
    assert found.skipped_environments == ["prod"]
    with pytest.raises(UnknownEnvironment):
        discover(tmp_path, env="qa")


def test_l1_logs_take_their_own_data_file_first_then_the_numbered_one(tmp_path: Path) -> None:
    logs, data = tmp_path / "campaigns/logs", tmp_path / "campaigns/data"
    write_json(logs / "campaign_2_salt.json", [])
    write_json(logs / "campaign_3.json", [])
    write_json(logs / "readme.json", [])
    write_json(data / "campaign_2_data.json", {})
    write_json(data / "campaign_3_data.json", {})
    write_json(data / "campaign_9_data.json", {})
    found = discover(tmp_path)
    files = {c.source: [f.rel for f in c.files] for c in found.campaigns}
    assert files == {
        "campaigns/logs/campaign_2_salt.json": [
            "campaigns/logs/campaign_2_salt.json",
            "campaigns/data/campaign_2_data.json",
        ],
        "campaigns/logs/campaign_3.json": [
            "campaigns/logs/campaign_3.json",
            "campaigns/data/campaign_3_data.json",
        ],
    }
    assert {c.slug for c in found.campaigns} == {"salt", None}
    assert {o.source for o in found.orphans} == {
        "campaigns/logs/readme.json",
        "campaigns/data/campaign_9_data.json",
    }


def test_a_directory_named_like_a_file_is_listed_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "campaign_1/logs/chat_history.json").mkdir(parents=True)
    found = discover(tmp_path)
    [history] = found.campaigns[0].files
    assert history.key == "logs/chat_history.json"
    assert load(history).reason == "unreadable"


def test_a_fifo_is_unreadable_and_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    loaded = load(SourceFile(fifo, "pipe.json", "pipe.json"))
    assert (loaded.reason, loaded.sha256) == ("unreadable", None)


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    write_bytes(tmp_path / "target.json", b"{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
    assert load(SourceFile(tmp_path / "link.json", "link.json", "link.json")).reason == "unreadable"


def test_a_zero_byte_file_is_empty_but_still_digested(tmp_path: Path) -> None:
    write_bytes(tmp_path / "e.json", b"")
    loaded = load(SourceFile(tmp_path / "e.json", "e.json", "e.json"))
    assert (loaded.reason, loaded.size) == ("empty_file", 0)
    assert loaded.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
