"""Stored events encoded once as SSE messages, with what a member of each role may read of them.

The hub encodes each event it reads once, for all the streams of its session; a stream picks
the message its member's role may read (:meth:`Item.frame_for`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sse_starlette import ServerSentEvent

from domain import roles
from projections.records import OWNER_ONLY_DATA, event_record, shown_to

DELTA_EVENT: Final = "narration.delta"
MEMBERSHIP_EVENTS: Final = frozenset({"MemberRemoved", "MemberRoleChanged"})


def frame(
    *,
    data: str | None = None,
    event: str | None = None,
    event_id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """One SSE message, framed as sse-starlette frames it (CRLF line ends)."""
    message = ServerSentEvent(data, event=event, id=event_id, retry=retry, comment=comment)
    return message.encode()


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Item:
    """One stored event, ready to send: its version, type and the encoded SSE message."""

    version: int
    type: str
    frame: bytes
    user_id: str | None = None  # the member a membership event is about
    role: str | None = None  # the role a MemberRoleChanged grants
    # The message for members other than the owner, when they may read less (``shown_to``).
    others_frame: bytes | None = None

    @classmethod
    def of(cls, event: Any) -> Item:
        record = event_record(event)
        kind: str = record["type"]
        version: int = record["version"]
        data: Mapping[str, Any] = record["data"]
        encoded = frame(data=compact_json(record), event=kind, event_id=str(version))
        if kind in MEMBERSHIP_EVENTS:
            return cls(version, kind, encoded, data.get("user_id"), data.get("role"))
        if kind in OWNER_ONLY_DATA:
            shown = shown_to(record, roles.SPECTATOR)
            others = frame(data=compact_json(shown), event=kind, event_id=str(version))
            return cls(version, kind, encoded, others_frame=others)
        return cls(version, kind, encoded)

    def frame_for(self, role: str) -> bytes:
        """The message as a member with ``role`` may read it."""
        if self.others_frame is None or role == roles.OWNER:
            return self.frame
        return self.others_frame

    def ends_membership_of(self, user_id: str) -> bool:
        """True when this event takes ``user_id`` out of the session (removed or blocked)."""
        if self.user_id != user_id:
            return False
        return self.type == "MemberRemoved" or self.role not in roles.RANK
