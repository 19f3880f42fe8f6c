"""Writing a session's export from its stream, a page of stored events at a time with the next
page read meanwhile: the header, the hash-chained event lines as each role may read them, and the
signed trailer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final
from uuid import UUID

from domain import roles
from domain.adapters.stream_rows import pages
from domain.application import Sessions
from projections.export.lines import FORMAT, ZERO_HASH, canonical_bytes, event_line_bytes
from projections.export.signing import ExportSigner
from projections.records import StoredRecords, shown_to

CHUNK: Final = 5000  # events read from the store per query (and sent per block) while exporting


def export_ndjson(sessions: Sessions, session_id: UUID, **options: Any) -> Iterator[str]:
    """``export_bytes`` (the same arguments) as text."""
    return (block.decode("utf-8") for block in export_bytes(sessions, session_id, **options))


def export_bytes(
    sessions: Sessions,
    session_id: UUID,
    *,
    title: str,
    until: int,
    exported_at: str,
    signer: ExportSigner,
    chunk: int = CHUNK,
    role: str = roles.OWNER,
) -> Iterator[bytes]:
    """The export of versions 1..``until`` as text blocks of whole lines, one block per page,
    the trailer signed by ``signer``.

    At most two pages of events are in memory at a time: the one being written and the next,
    read meanwhile (``stream_rows.pages``). ``title`` should be the title at ``until``.
    ``role`` is the reader's: invite events keep only their ``invite_id`` for all but the owner
    (``records.shown_to``); the chain is computed over the lines as written, so it verifies.
    """
    header = {
        "type": "header",
        "format": FORMAT,
        "session_id": str(session_id),
        "title": title,
        "exported_at": exported_at,
    }
    yield canonical_bytes(header) + b"\n"
    prev, count = ZERO_HASH, 0
    records = StoredRecords(sessions.mapper)
    for page in pages(records.rows(sessions.recorder), session_id, 0, until, chunk):
        lines = []
        for topic, state, version in page:
            record, plain = records.row_record_and_plain(session_id, topic, state, version)
            line, prev = event_line_bytes(shown_to(record, role), prev, plain=plain)
            lines.append(line)
        count += len(page)
        lines.append(b"")
        yield b"\n".join(lines)
    trailer: dict[str, Any] = {
        "type": "trailer",
        "count": count,
        "final_hash": prev,
        "key_id": signer.key_id,
    }
    trailer["signature"] = signer.sign(header, trailer)
    yield canonical_bytes(trailer) + b"\n"
