"""Parsing legacy data (pure): names and ids, timestamps, message forms, history warnings,
file kinds and decoding, on small inline fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from migrate_legacy import classify as k
from migrate_legacy.campaign import decode
from migrate_legacy.messages import history_entries, history_notices, is_prefix, read_message
from migrate_legacy.naming import dir_suffix, display_name, is_test_campaign, legacy_id_of_dir
from migrate_legacy.sources import Loaded, SourceFile
from migrate_legacy.timestamps import UTC_ZONE, NaiveZone, UnknownTimeZone, parse_instant


def loaded(key: str, data: bytes) -> Loaded:
    return Loaded(SourceFile(Path("/x") / key, key, key), data, "0" * 64, len(data))


def codes(raw: list[object]) -> set[str]:
    messages = [read_message(i, m, UTC_ZONE) for i, m in enumerate(raw)]
    return {n.code for n in history_notices(messages, "h.json")}


# -- ids and names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directory", "legacy_id"),
    [
        ("campaign_7 - The Lost Mine", "campaign_7"),
        ("campaign_7", "campaign_7"),
        ("campaign_21 - Siege - Part Two", "campaign_21"),
        ("default - Lanterns of Vey", "default - Lanterns of Vey"),
        ("test-camp-1a2b3c4d", "test-camp-1a2b3c4d"),
        ("campaign_7_extra", "campaign_7_extra"),
    ],
)
def test_the_legacy_id_of_a_directory_is_its_campaign_number_or_its_name(
    directory: str, legacy_id: str
) -> None:
    assert legacy_id_of_dir(directory) == legacy_id


def test_the_directory_suffix_is_everything_after_the_first_separator() -> None:
    assert dir_suffix("campaign_21 - Siege - Part Two") == "Siege - Part Two"
    assert dir_suffix("default - Lanterns of Vey") == "Lanterns of Vey"
    assert dir_suffix("test-camp-1a2b3c4d") is None


def test_the_display_name_follows_metadata_then_suffix_then_data_title_then_slug() -> None:
    def name(**kw: object) -> str:
        args: dict[str, object] = {
            "legacy_id": "campaign_2",
            "metadata": None,
            "dir_name": None,
            "campaign_data": None,
            "slug": None,
        }
        return display_name(**(args | kw))[0]  # type: ignore[arg-type]

    assert name(metadata={"name": " ", "title": " Starfall "}) == "Starfall"
    assert name(dir_name="campaign_2 - Mine", campaign_data={"title": "Data"}) == "Mine"
    assert name(campaign_data={"title": "Data"}, slug="the_salt_road") == "Data"
    assert name(slug="the_salt_road") == "The Salt Road"
    assert name() == "campaign_2"


def test_a_metadata_name_that_differs_from_the_suffix_is_a_mismatch() -> None:
    _, mismatch = display_name(
        legacy_id="campaign_21",
        metadata={"name": "Siege, Part Two!"},
        dir_name="campaign_21 - Siege - Part Two",
        campaign_data=None,
        slug=None,
    )
    assert mismatch


def test_test_campaigns_are_recognised_by_prefix() -> None:
    assert is_test_campaign("e2e-test-1")
    assert is_test_campaign("validation-test-x")
    assert not is_test_campaign("campaign_1")


# -- timestamps -------------------------------------------------------------------------------


def test_a_naive_timestamp_is_read_in_the_naive_zone() -> None:
    paris = NaiveZone.named("Europe/Paris")
    instant = parse_instant("2025-01-01T12:00:00", paris)
    assert instant.form == "naive"
    assert instant.at == datetime(2025, 1, 1, 11, tzinfo=UTC)


def test_offset_and_z_timestamps_with_any_fraction_are_aware() -> None:
    assert parse_instant("2025-09-03T19:02:41.5Z", UTC_ZONE).at == datetime(
        2025, 9, 3, 19, 2, 41, 500000, tzinfo=UTC
    )
    assert parse_instant("2025-11-02T18:02:11.402113+00:00", UTC_ZONE).form == "aware"


def test_a_non_iso_timestamp_is_invalid() -> None:
    assert parse_instant("yesterday", UTC_ZONE).at is None


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(UnknownTimeZone):
        NaiveZone.named("Mars/Olympus")


# -- messages ---------------------------------------------------------------------------------


def test_a_json_string_reply_keeps_its_raw_text_and_its_decoded_object() -> None:
    raw = '{"narrative": "The door creaks.",  "answer": "Who?"}'
    message = read_message(0, {"role": "assistant", "content": raw}, UTC_ZONE)
    assert message.legacy["content_form"] == "json_string"
    assert message.legacy["content"] == raw
    assert message.structured == {"narrative": "The door creaks.", "answer": "Who?"}
    assert message.text == "The door creaks."


def test_prose_that_starts_with_a_brace_stays_prose() -> None:
    message = read_message(0, {"role": "assistant", "content": "{laughs} Hi"}, UTC_ZONE)
    assert (message.legacy["content_form"], message.text) == ("text", "{laughs} Hi")


def test_object_content_is_the_structured_content_verbatim() -> None:
    content = {"answer": "a", "narrative": "n", "audio": {"id": "1"}}
    message = read_message(0, {"role": "dm", "content": content}, UTC_ZONE)
    assert message.role == "assistant"
    assert message.structured is content
    assert message.has_audio


def test_aliases_map_to_roles_and_keep_the_original() -> None:
    message = read_message(0, {"role": "player", "content": "hi"}, UTC_ZONE)
    assert (message.role, message.legacy["role"]) == ("user", "player")


def test_a_context_note_is_a_context_turn_kept_whole() -> None:
    message = read_message(0, {"role": "user", "content": "[CONTEXT] x"}, UTC_ZONE)
    assert (message.kind, message.text) == ("context", "[CONTEXT] x")


def test_unknown_keys_time_key_and_character_are_kept() -> None:
    raw = {"time": "2025-01-01T00:00:00", "role": "user", "content": "a", "turn_number": 3}
    raw |= {"character_name": "Mira", "message_id": "msg_0123456789ab"}
    message = read_message(4, raw, UTC_ZONE)
    assert message.legacy["keys"] == list(raw)
    assert message.legacy["extras"] == {"turn_number": 3}
    assert message.legacy["timestamp_key"] == "time"
    assert message.legacy["timezone_assumed"] == "UTC"
    assert message.legacy["message_id"] == "msg_0123456789ab"
    assert message.character == {"id": "", "name": "Mira"}


def test_an_entry_that_is_not_an_object_is_kept_as_a_value() -> None:
    message = read_message(0, "stray", UTC_ZONE)
    assert (message.role, message.legacy["content"]) == ("unknown", "stray")


def test_a_history_may_be_wrapped_in_an_object_with_messages() -> None:
    assert history_entries({"messages": [1], "v": 2}) == ([1], {"v": 2})
    assert history_entries([1]) == ([1], {})
    assert history_entries({"msgs": []}) is None


def test_history_warnings_cover_time_and_duplicate_hazards() -> None:
    raw: list[object] = [
        {"role": "assistant", "content": "a", "timestamp": "2025-01-01T00:00:05"},
        {"role": "assistant", "content": "a", "timestamp": "2025-01-01T00:00:05"},
        {"role": "user", "content": "b", "timestamp": "2025-01-01T00:00:01Z"},
        {"role": "user", "content": "c"},
        {"role": "user", "content": "d", "timestamp": "soon"},
    ]
    assert codes(raw) == {
        "possible_duplicate_message",
        "identical_timestamps",
        "mixed_timezones",
        "non_monotonic_timestamps",
        "missing_timestamps",
        "unparseable_timestamp",
    }


def test_a_clean_history_has_no_warnings() -> None:
    raw: list[object] = [
        {"role": "user", "content": "a", "timestamp": "2025-01-01T00:00:01"},
        {"role": "assistant", "content": "a", "timestamp": "2025-01-01T00:00:02"},
    ]
    assert codes(raw) == set()


def test_a_backup_is_a_prefix_by_role_and_content_only() -> None:
    main = [read_message(i, {"role": "user", "content": str(i)}, UTC_ZONE) for i in range(3)]
    same = [read_message(0, {"role": "user", "content": "0", "timestamp": "x"}, UTC_ZONE)]
    other = [read_message(0, {"role": "user", "content": "lost"}, UTC_ZONE)]
    assert is_prefix(same, main)
    assert not is_prefix(other, main)


# -- file kinds and decoding --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("metadata.json", k.METADATA),
        ("logs/chat_history.json", k.HISTORY),
        ("logs/chat_history.backup.json", k.BACKUP),
        ("data/characters/pc:kara_stormwind.json", k.CHARACTER),
        ("data/characters/character_summary.json", k.CHARACTER_SUMMARY),
        ("data/combat/active/scene_1 - round 2.json", k.COMBAT_SESSION),
        ("data/combat/active/event_log.jsonl", k.COMBAT_LOG),
        ("data/combat/history/combat_20250101_101010_s - round 1.json", k.COMBAT_SESSION),
        ("data/combat/history/combat_2025-01-01_10-00/event_log.jsonl", k.COMBAT_LOG),
        ("data/combat/history/combat_2025-01-01_10-00/metrics.json", k.COMBAT_OTHER),
        ("data/summaries/summary_turn_0005.json", k.SUMMARY),
        ("image_metadata/x.json", k.IMAGE_METADATA),
        ("data/characters/nested/x.json", k.CUSTOM),
        ("data/house_rules.json", k.CUSTOM),
    ],
)
def test_files_are_classified_by_path(key: str, kind: str) -> None:
    assert k.classify(key, has_logs_history=True) == kind


def test_the_root_history_is_the_history_only_without_the_logs_one() -> None:
    assert k.classify("chat_history.json", has_logs_history=False) == k.HISTORY
    assert k.classify("chat_history.json", has_logs_history=True) == k.HISTORY_COPY


def test_invalid_json_is_rejected_with_its_reason() -> None:
    assert decode(loaded("data/x.json", b'{"a": '), k.CUSTOM).reason == "invalid_json"


def test_a_broken_json_line_rejects_an_event_log() -> None:
    decoded = decode(
        loaded("data/combat/active/event_log.jsonl", b'{"a": 1}\n{"b"\n'), k.COMBAT_LOG
    )
    assert decoded.reason == "invalid_json"


def test_text_and_bytes_of_custom_files_are_kept_as_read() -> None:
    assert decode(loaded("notes.txt", "é\n".encode()), k.CUSTOM).value == "é\n"
    assert decode(loaded("x.bin", b"\xff\x00"), k.CUSTOM).value == b"\xff\x00"


def test_repeated_keys_and_the_stores_reserved_shape_are_flagged() -> None:
    decoded = decode(
        loaded("d.json", b'{"a": 1, "a": 2, "b": {"_type_": 1, "_data_": 2}}'), k.CUSTOM
    )
    assert decoded.duplicate_keys
    assert decoded.reserved
    assert decoded.value["a"] == 2
