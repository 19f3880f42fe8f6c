"""Owners and members from legacy metadata (docs/legacy-format.md#ownership, ARCHITECTURE.md
§6.1): user ids map directly, emails are kept in the provenance, and no owner is ever invented."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from domain import roles
from migrate_legacy.model import Notice
from migrate_legacy.steps import AddMember

METADATA_FILE: Final = "metadata.json"


@dataclass
class Ownership:
    """Who owns the session, who else is a member, and where that knowledge came from."""

    owner: str | None
    members: list[str]
    record: dict[str, Any]
    notices: list[Notice] = field(default_factory=list)

    def steps(self) -> list[AddMember]:
        return [
            AddMember(user_id, user_id, roles.PLAYER, METADATA_FILE) for user_id in self.members
        ]


def ownership_of(metadata: Mapping[str, Any] | None, default_owner: str | None) -> Ownership:
    """The owner from ``owner_user_id`` (else ``default_owner``), members from ``member_user_ids``.

    ``record`` says where ownership came from (``metadata``, ``default_owner`` or ``none``) and
    keeps the emails: access was once decided by email, and only ids can be mapped to users.
    """
    metadata = metadata or {}
    owner = _text(metadata.get("owner_user_id"))
    source = "metadata" if owner else "none"
    if owner is None and default_owner:
        owner, source = default_owner, "default_owner"
    member_ids = metadata.get("member_user_ids")
    members: list[str] = []
    for user_id in member_ids if isinstance(member_ids, list) else []:
        text = _text(user_id)
        if text and text != owner and text not in members:
            members.append(text)
    record: dict[str, Any] = {"source": source}
    for key in ("owner_user_id", "owner_email", "member_user_ids", "member_emails"):
        if key in metadata:
            record[key] = metadata[key]
    notices = []
    if _text(metadata.get("owner_email")) and not _text(metadata.get("owner_user_id")):
        notices.append(
            Notice("owner_email_only", METADATA_FILE, "the owner has an email but no user id")
        )
    emails = metadata.get("member_emails")
    if isinstance(emails, list) and len(emails) > len(
        member_ids if isinstance(member_ids, list) else []
    ):
        notices.append(
            Notice("owner_email_only", METADATA_FILE, "some members have an email but no user id")
        )
    return Ownership(owner, members, record, notices)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
