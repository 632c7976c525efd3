"""The provisioning journal: one JSON line per applied or rolled-back batch, appended and flushed.

A run killed part-way leaves the journal saying what was applied; the next run reads the target again
and plans only what remains (planning is from facts, so resuming needs no replay).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from ..redaction import redact


class Journal:
    """Appends records to ``path`` (``None``: keeps them in memory only)."""

    def __init__(self, path: Path | None, run_id: str | None = None):
        self.path = path
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        self.entries: list[dict[str, object]] = []
        self._lock = threading.Lock()  # blades are applied concurrently

    def record(self, target: str, status: str, lines: list[str], reason: str = "") -> None:
        entry: dict[str, object] = {"run": self.run_id, "time": time.time(), "target": target, "status": status}
        entry["changes"] = [redact(line) for line in lines]
        if reason:
            entry["reason"] = redact(reason)
        with self._lock:
            self.entries.append(entry)
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
