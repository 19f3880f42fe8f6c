"""A session's past, read straight from its stream: the audit timeline (every stored event,
rewound ones included) and the session's title and members as they were at any version.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from domain.application import Sessions
from projections.dispatch import SESSION_EVENTS, stored_topic
from projections.history import SessionView
from projections.records import EventRecord, StoredRecords

# Event type name (as in a record's "type") -> the topic it is stored under.
EVENT_TOPICS: Final[dict[str, str]] = {
    cls.__name__: stored_topic(cls) for cls in sorted(SESSION_EVENTS, key=lambda c: c.__name__)
}
SCAN_CHUNK: Final = 1000  # stored events read per query while filtering by type
SCAN_BUDGET: Final = 20_000  # stored events one filtered page may look at before it answers


def timeline_page(
    sessions: Sessions,
    session_id: UUID,
    *,
    after: int,
    limit: int,
    types: frozenset[str] | None = None,
) -> tuple[list[EventRecord], int | None]:
    """Records of the stored events after version ``after``, at most ``limit``, in order.

    Returns ``(records, next_after)``; ``next_after`` is None at the end of the stream. With
    ``types``, events are filtered by their stored topic before they are decoded, and a page may
    come back short (even empty) with a ``next_after`` when the scan budget runs out first.
    """
    topics = None if types is None else {EVENT_TOPICS[name] for name in types}
    chunk = limit + 1 if topics is None else SCAN_CHUNK
    records: list[EventRecord] = []
    reader = StoredRecords(sessions.mapper)
    scanned, budget = after, SCAN_BUDGET
    while budget > 0:
        batch = sessions.recorder.select_events(session_id, gt=scanned, limit=chunk)
        for stored in batch:
            if topics is None or stored.topic in topics:
                if len(records) == limit:
                    return records, records[-1]["version"]
                records.append(reader.record(stored))
            scanned = stored.originator_version
        if len(batch) < chunk:
            return records, None
        budget -= len(batch)
    return records, scanned


def session_at(sessions: Sessions, session_id: UUID, version: int) -> SessionView:
    """Title, owner, origin and members at ``version``, from the aggregate (a snapshot and the
    events after it): a ``SessionView`` without any history.
    """
    session = sessions.get(session_id, version=version)
    return SessionView(
        session_id=session_id,
        version=session.version,
        title=session.title,
        owner=session.owner,
        origin=dict(session.origin),
        settings=dict(session.settings),
        created_at=session.created_on.isoformat(),
        members={user_id: member.copy() for user_id, member in session.members.items()},
        blocked=set(session.blocked),
        hidden=[(low, high) for low, high in session.hidden],
    )
