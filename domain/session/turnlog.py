"""Each turn's status log, as the aggregate keeps it: one plain string per turn.

``turns[turn_id]`` is ``"<version>:<status>;<version>:<status>;..."``: every status the turn
took, oldest first, each with the version of the event that set it, for example
``"15:pending;16:narrated"``. Reading the entries at or below a version gives the turn's status
there, which is how a rewind takes a turn back (it keeps only the entries up to its point).
Strings rather than lists of pairs because the library deep-copies the aggregate on every load
and a snapshot stores it whole (aggregate version 2 moved from pairs to these strings).

``waiting`` maps every turn whose latest status is pending to the version it started waiting
at (aggregate version 3), so the turns to narrate are found without reading every log.
"""

from __future__ import annotations

from enum import StrEnum


class TurnStatus(StrEnum):
    PENDING = "pending"  # waits for narration
    NARRATED = "narrated"
    FAILED = "failed"
    HELD = "held"  # imported while awaiting a reply: waits for an explicit retry


def entry(version: int, status: str) -> str:
    return f"{version}:{status}"


def entries(log: str) -> list[tuple[int, TurnStatus]]:
    """The ``(version, status)`` changes of one turn, oldest first."""
    result = []
    for part in log.split(";") if log else ():
        version, _, status = part.partition(":")
        result.append((int(version), TurnStatus(status)))
    return result


def status_at(log: str, version: int | None = None) -> TurnStatus | None:
    """The turn's status at ``version`` (None: now); None if it did not exist yet."""
    states = [status for v, status in entries(log) if version is None or v <= version]
    return states[-1] if states else None


def waiting(turns: dict[str, str]) -> dict[str, int]:
    """Turn id -> version for every turn whose latest status is pending."""
    found = {}
    for turn_id, log in turns.items():
        version, _, status = log.rpartition(";")[2].partition(":")
        if status == TurnStatus.PENDING:
            found[turn_id] = int(version)
    return found


def log_status(
    turns: dict[str, str], waits: dict[str, int], turn_id: str, version: int, status: TurnStatus
) -> None:
    """Record that ``turn_id`` took ``status`` at ``version`` (a new turn starts its log)."""
    new = entry(version, status)
    turns[turn_id] = f"{turns[turn_id]};{new}" if turn_id in turns else new
    if status == TurnStatus.PENDING:
        waits[turn_id] = version
    else:
        waits.pop(turn_id, None)


def rewound(turns: dict[str, str], to_version: int) -> dict[str, str]:
    """The logs as they stood at ``to_version``: later entries dropped, later turns gone."""
    kept = {}
    for turn_id, log in turns.items():
        before = [entry(v, status) for v, status in entries(log) if v <= to_version]
        if before:
            kept[turn_id] = ";".join(before)
    return kept
