"""The audit export format ``gaia-export/1`` (NDJSON with a SHA-256 hash chain and a signed
trailer): writing it from a session's stream, page by page, and verifying a file line by line.

A header line, one line per stored event, a trailer. Each event line carries ``prev_hash`` and
``hash`` = SHA-256 hex of ``prev_hash`` + the canonical JSON of the line without those two keys
(keys sorted, separators ``,`` and ``:``, UTF-8, non-ASCII unescaped); the first ``prev_hash`` is
64 zeros. The trailer's Ed25519 ``signature`` covers the header and the rest of the trailer
(count, final hash, key id), so a file cut short, re-hashed after an edit, or given another
header no longer checks out against the service's public key. A line that repeats a key is
refused: parsers disagree on which of the values counts. ``docs/export.md`` tells anyone how to
check a file without this code.

Its modules: ``lines`` (canonical JSON, the chain, event lines), ``signing`` (keys and the
trailer's signature), ``stream`` (a session's export) and ``verify`` (checking a file).
"""

from projections.export.lines import (
    FORMAT,
    ZERO_HASH,
    canonical_bytes,
    canonical_json,
    chain_hash,
    event_line_bytes,
)
from projections.export.signing import (
    ALGORITHM,
    ExportSigner,
    KeyInvalid,
    key_id,
    new_private_key_text,
    private_key_from_text,
    public_key_from_text,
    signed_message,
)
from projections.export.stream import CHUNK, export_bytes, export_ndjson
from projections.export.verify import ExportInvalid, VerifiedExport, verify_export

__all__ = [
    "ALGORITHM",
    "CHUNK",
    "FORMAT",
    "ZERO_HASH",
    "ExportInvalid",
    "ExportSigner",
    "KeyInvalid",
    "VerifiedExport",
    "canonical_bytes",
    "canonical_json",
    "chain_hash",
    "event_line_bytes",
    "export_bytes",
    "export_ndjson",
    "key_id",
    "new_private_key_text",
    "private_key_from_text",
    "public_key_from_text",
    "signed_message",
    "verify_export",
]
