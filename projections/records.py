"""One stored event as plain JSON: the shape the timeline, live streams and exports all share,
and what of it each role may read."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, Final, TypedDict
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
)
from eventsourcing.utils import resolve_topic

from domain import roles
from domain.adapters.stream_rows import RowsReader, StoredRow, rows_reader
from domain.inputs import MAX_JSON_DEPTH
from domain.transcoding import FREE_FIELDS, ReadSafeTranscoder, cut_value

# Carried by every event; shown at the top level of a record, not repeated in its data.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "occurred_at", "actor"})
CREATION_ONLY = frozenset({"originator_topic"})
_TYPE: Final = "_type_"  # the key of a stored value's type name: {"_type_": ..., "_data_": ...}
_TYPE_KEY: Final = b'"_type_"'
# Event fields the domain declares as instants (``datetime``): stored by the library's encoder.
_INSTANTS: Final = frozenset({"timestamp", "occurred_at", "expires_at"})
_HEX32: Final = re.compile(r"[0-9a-f]{32}")  # a UUID's ``hex``, as the library stores it
# A run of 19 digits (once every digit is made a 0) may be a number beyond 64 bits, which
# orjson would read as a float. A search of the translated bytes costs a tenth of a regex's.
_ALL_ZERO: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS: Final = b"0" * 19
# Events whose details only the owner may read, as only the owner may list invites (role,
# expiry, uses, the token's hash): anyone else gets the event with just these fields of its
# data. The event itself stays, so that versions run on without a gap in streams and exports.
OWNER_ONLY_DATA: Final[dict[str, tuple[str, ...]]] = {
    "InviteIssued": ("invite_id",),
    "InviteRevoked": ("invite_id",),
}


class EventRecord(TypedDict):
    """One stored event as JSON: the envelope at the top, the event's own fields in ``data``."""

    version: int
    type: str
    recorded_at: str
    occurred_at: str | None
    actor: str | None
    data: dict[str, Any]


def jsonable(value: Any) -> Any:
    """Event field values as JSON values: ids and instants as strings, containers recursively."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def event_type(event: Any) -> str:
    return type(event).__name__


def event_record(event: Any) -> EventRecord:
    """``{version, type, recorded_at, occurred_at, actor, data}`` for one domain event."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data = {
        name: jsonable(value)
        for name, value in fields.items()
        if name not in ENVELOPE and name not in CREATION_ONLY
    }
    occurred_at = fields.get("occurred_at")
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": occurred_at.isoformat() if occurred_at else None,
        "actor": fields.get("actor"),
        "data": data,
    }


class StoredRecords:
    """``event_record(mapper.to_domain_event(stored))`` for many stored events, read straight
    from their stored JSON: no event objects, and ids and instants decoded to the strings a
    record shows instead of to values turned back into strings.

    An event stored under an older ``class_version`` (which upcasting changes), one lacking a
    field its class declares (which would read as the field's default), or one that does not
    decode goes the library's way, so each record is exactly what ``event_record`` gives.
    """

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        source = mapper.transcoder
        self._json: _JsonForms | None = None
        if isinstance(source, JSONTranscoder) and not mapper.cipher and not mapper.compressor:
            self._json = _JsonForms(source.names.values())

    def rows(self, recorder: ApplicationRecorder) -> RowsReader:
        """Pages of one stream's stored events as ``(topic, state, version)`` rows, for
        ``row_record_and_plain``: read by key range when records come from the stored JSON,
        else through the library's own read."""
        read = rows_reader(recorder) if self._json is not None else None
        if read is not None:
            return read

        def select(session_id: UUID, gt: int, lte: int, limit: int) -> list[StoredRow]:
            page = recorder.select_events(session_id, gt=gt, lte=lte, limit=limit)
            return [(stored.topic, stored.state, stored.originator_version) for stored in page]

        return select

    def records(self, stored_events: Iterable[StoredEvent]) -> list[EventRecord]:
        return [self.record(stored) for stored in stored_events]

    def record(self, stored: StoredEvent) -> EventRecord:
        return self.record_and_plain(stored)[0]

    @property
    def reads_json(self) -> bool:
        """Whether records are read from the stored JSON itself (no cipher, no compressor)."""
        return self._json is not None

    def record_and_plain(self, stored: StoredEvent) -> tuple[EventRecord, bool]:
        """The record, and whether it holds only what orjson itself read from the stored JSON
        (plain values: no number beyond 64 bits, nothing non-finite, no other types), which
        ``orjson.dumps`` then writes as the standard library would, floats apart."""
        return self.row_record_and_plain(
            stored.originator_id, stored.topic, stored.state, stored.originator_version
        )

    def row_record_and_plain(
        self, originator_id: UUID | str, topic: str, state_bytes: bytes, version: int
    ) -> tuple[EventRecord, bool]:
        """``record_and_plain`` of the stored event with these columns."""
        shape = _shape(topic)
        state: dict[str, Any] | None = None
        plain = False
        if self._json is not None:
            try:
                state, plain = self._json.decode_plain(state_bytes)
            except Exception:  # noqa: BLE001 - the library's way below raises its own error for it
                state = None
        if (
            not isinstance(state, dict)
            or state.get("class_version", 1) != shape.class_version
            or not state.keys() >= shape.stored
        ):
            stored = StoredEvent(originator_id, version, topic, state_bytes)
            return event_record(self._mapper.to_domain_event(stored)), False
        return {
            "version": version,
            "type": shape.name,
            "recorded_at": state["timestamp"],
            "occurred_at": state["occurred_at"] if shape.has_occurred_at else None,
            "actor": state["actor"] if shape.has_actor else None,
            "data": {name: state[name] for name in shape.data},
        }, plain


@dataclasses.dataclass(frozen=True)
class _Shape:
    """What a record needs to know of one event class."""

    name: str
    class_version: int
    stored: frozenset[str]  # the fields read from the stored state (not the row's columns)
    data: tuple[str, ...]  # the fields shown in a record's data, in declaration order
    has_occurred_at: bool
    has_actor: bool


@cache
def _shape(topic: str) -> _Shape:
    cls = resolve_topic(topic)
    names = [f.name for f in dataclasses.fields(cls)]
    return _Shape(
        name=cls.__name__,
        class_version=getattr(cls, "class_version", 1),
        stored=frozenset(names) - {"originator_id", "originator_version"},
        data=tuple(n for n in names if n not in ENVELOPE and n not in CREATION_ONLY),
        has_occurred_at="occurred_at" in names,
        has_actor="actor" in names,
    )


class _JsonForms(ReadSafeTranscoder):
    """The application's transcoder, but decoding ids and instants to what ``jsonable`` makes
    of them (the decoder's hook is this class's ``_decode_obj``).

    Stored values sit at the top of an event's state, so ``decode`` parses without the hook (all
    in C, with orjson where it reads exactly as the standard library: see ``_parse``) and
    decodes just the top-level values; a state with any other ``"_type_"`` key (a value nested
    in free data) is parsed again with the hook.
    """

    def __init__(self, transcodings: Iterable[Any]) -> None:
        super().__init__()
        for transcoding in transcodings:
            self.register(transcoding)
        self._dates_as_iso = type(self.names.get("datetime_iso")) is DatetimeAsISO
        self._unhooked = ReadSafeTranscoder()
        self._unhooked.decoder = json.JSONDecoder(parse_constant=lambda _: None)

    def decode(self, data: bytes) -> Any:
        return self.decode_plain(data)[0]

    def decode_plain(self, data: bytes) -> tuple[Any, bool]:
        """The decoded state, and whether orjson read it and every stored value became text."""
        state, plain = self._parse(data)
        if isinstance(state, dict):
            found = 0
            for name, value in state.items():
                if type(value) is dict and _TYPE in value:
                    stored = value.get("_data_")
                    if name in _INSTANTS and self._is_instant(value) and type(stored) is str:
                        # The library wrote it with ``isoformat()``, which reads back unchanged.
                        state[name] = stored
                    else:
                        state[name] = self._decode_obj(value)
                        plain = plain and type(state[name]) is str
                    found += 1
            if found == data.count(_TYPE_KEY):
                return state, plain
        return super().decode(data), False

    def _parse(self, data: bytes) -> tuple[Any, bool]:
        """``self._unhooked.decode(data)``, by orjson where it gives the same: orjson refuses
        what the standard library reads its own way here (``NaN``, lone surrogates, bytes that
        are not UTF-8, nesting past 1,024, numbers too large for a double), and reads an integer
        beyond 64 bits as a float, so a run of 19 digits goes the standard library's way."""
        if _LONG_DIGITS not in data.translate(_ALL_ZERO):
            try:
                state = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
            else:
                if isinstance(state, dict) and data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH:
                    for name in FREE_FIELDS & state.keys():  # as ReadSafeTranscoder.decode
                        state[name] = cut_value(state[name], MAX_JSON_DEPTH)
                return state, True
        return self._unhooked.decode(data), False

    def _is_instant(self, d: dict[str, Any]) -> bool:
        return self._dates_as_iso and len(d) == 2 and d[_TYPE] == "datetime_iso"  # noqa: PLR2004

    def _decode_obj(self, d: dict[str, Any]) -> Any:
        if len(d) != 2:  # noqa: PLR2004 - {"_type_", "_data_"}; most objects are no such pair
            return d
        data = d.get("_data_")
        kind = d.get("_type_")
        if kind == "uuid_hex" and isinstance(data, str) and _HEX32.fullmatch(data):
            # str(UUID(data)), without building the UUID.
            return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
        if kind == "datetime_iso" and self._dates_as_iso and isinstance(data, str):
            return datetime.fromisoformat(data).isoformat()  # as the library's DatetimeAsISO
        value = super()._decode_obj(d)
        return jsonable(value) if isinstance(value, UUID | datetime) else value


def shown_to(record: EventRecord, role: str) -> EventRecord:
    """``record`` as a member with ``role`` may read it (see ``OWNER_ONLY_DATA``)."""
    kept = OWNER_ONLY_DATA.get(record["type"])
    if kept is None or role == roles.OWNER:
        return record
    shown = record.copy()
    shown["data"] = {key: record["data"][key] for key in kept if key in record["data"]}
    return shown
