"""Legacy timestamps (hazards H1-H3, docs/legacy-format.md#hazards): ISO 8601 strings, naive or with
an offset, read into UTC instants; a naive value is placed in the ``--naive-tz`` zone and marked as
assumed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NAIVE: Final = "naive"
AWARE: Final = "aware"
INVALID: Final = "invalid"


class UnknownTimeZone(ValueError):
    """``--naive-tz`` names no time zone of the system's database."""


@dataclass(frozen=True)
class NaiveZone:
    """The zone naive legacy times are read in, with the name recorded beside each such time."""

    name: str
    zone: tzinfo

    @classmethod
    def named(cls, name: str) -> NaiveZone:
        if name.upper() == "UTC":
            return cls("UTC", UTC)
        try:
            return cls(name, ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise UnknownTimeZone(f"--naive-tz {name!r} is not a known time zone") from None


UTC_ZONE: Final = NaiveZone("UTC", UTC)


@dataclass(frozen=True)
class Instant:
    """What a timestamp string says: the UTC instant (None if unparseable) and its form."""

    at: datetime | None
    form: str  # naive | aware | invalid


def parse_instant(value: str, zone: NaiveZone) -> Instant:
    """Read an ISO 8601 string; ``form`` says whether it had an offset or was assumed."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Instant(None, INVALID)
    if parsed.tzinfo is None:
        return Instant(parsed.replace(tzinfo=zone.zone).astimezone(UTC), NAIVE)
    return Instant(parsed.astimezone(UTC), AWARE)


def instant_or_none(value: object, zone: NaiveZone) -> datetime | None:
    """The instant of a value that may be a timestamp string, else None (nothing invented)."""
    return parse_instant(value, zone).at if isinstance(value, str) else None
