"""The storage configuration that the store fixtures hand to a test."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoreConfig:
    """Where one test's event store lives.

    ``database_url`` is the libpq URL of a fresh PostgreSQL database, or None for the embedded
    SQLite file. ``data_dir`` is a fresh, empty, writable directory (the SQLite file goes there).
    """

    database_url: str | None
    data_dir: Path
