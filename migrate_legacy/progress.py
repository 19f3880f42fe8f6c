"""Progress while the job runs: a bar redrawn in place on a terminal, one plain line per
campaign otherwise (logs, CI, a parent process reading the output)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO


class Progress:
    def __init__(
        self, total: int, stream: TextIO | None = None, *, tty: bool | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total
        self.done = 0
        self.events = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def campaign(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.done += 1
            self.events += entry.get("written", 0)
            if self.tty:
                self._bar()
            else:
                line = (
                    f"migrate: [{self.done}/{self.total}] {entry['status']} {entry['legacy_id']}"
                    f" ({entry['layout']}, {entry.get('written', 0)} events) {entry['source']}"
                )
                print(line, file=self.stream, flush=True)

    def _bar(self, width: int = 30) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(width * share)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        bar = "#" * filled + "." * (width - filled)
        text = (
            f"\r[{bar}] {self.done}/{self.total} campaigns  "
            f"{self.events:,} events  {self.events / elapsed:,.0f} ev/s"
        )
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
