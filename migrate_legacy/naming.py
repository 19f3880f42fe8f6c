"""Legacy ids and display names (docs/legacy-format.md#legacy-id, #display-name): pure functions of
names and metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

CAMPAIGN_DIR: Final = re.compile(r"^(campaign_\d+)(?:\s*-\s*(.*))?$", re.DOTALL)
DEFAULT_DIR: Final = re.compile(r"^default\s*-\s*(.*)$", re.DOTALL)
L1_STEM: Final = re.compile(r"^(campaign_\d+)(?:_(.+))?$", re.DOTALL)
TEST_PREFIXES: Final = ("e2e-test-", "test-camp-", "summary-test-", "validation-test-")
METADATA_NAME_KEYS: Final = ("name", "title", "display_name")


def legacy_id_of_dir(name: str) -> str:
    """``campaign_<N>`` for ``campaign_<N>[ - <Name>]``, else the directory name verbatim."""
    match = CAMPAIGN_DIR.match(name)
    return match.group(1) if match else name


def dir_suffix(name: str) -> str | None:
    """The display name a directory carries after its first `` - `` separator, if any."""
    match = CAMPAIGN_DIR.match(name)
    if match:
        return match.group(2)
    match = DEFAULT_DIR.match(name)
    return match.group(1) if match else None


def l1_parts(stem: str) -> tuple[str, str | None] | None:
    """``(legacy id, slug)`` of an L1 log file stem, or None if it is not a campaign log."""
    match = L1_STEM.match(stem)
    return (match.group(1), match.group(2)) if match else None


def slug_title(slug: str) -> str:
    """``the_salt_road`` -> ``The Salt Road``."""
    return " ".join(word[:1].upper() + word[1:] for word in slug.replace("_", " ").split(" "))


def metadata_name(metadata: Mapping[str, Any] | None) -> str | None:
    """The first non-blank of ``name``, ``title``, ``display_name``, trimmed."""
    return _first_text(metadata, METADATA_NAME_KEYS)


def display_name(
    *,
    legacy_id: str,
    metadata: Mapping[str, Any] | None,
    dir_name: str | None,
    campaign_data: Any,
    slug: str | None,
) -> tuple[str, bool]:
    """The display name by the precedence of docs/legacy-format.md#display-name, and whether
    ``name_mismatch`` applies."""
    from_metadata = metadata_name(metadata)
    suffix = dir_suffix(dir_name) if dir_name is not None else None
    suffix = suffix.strip() if suffix else None
    mismatch = bool(from_metadata and suffix and from_metadata != suffix)
    data_title = _first_text(
        campaign_data if isinstance(campaign_data, Mapping) else None, ("title",)
    )
    candidates = (
        from_metadata,
        suffix,
        data_title,
        slug_title(slug).strip() if slug else None,
        legacy_id.strip(),
    )
    return next((name for name in candidates if name), legacy_id), mismatch


def is_test_campaign(legacy_id: str) -> bool:
    return legacy_id.startswith(TEST_PREFIXES)


def _first_text(mapping: Mapping[str, Any] | None, keys: tuple[str, ...]) -> str | None:
    if not mapping:
        return None
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
