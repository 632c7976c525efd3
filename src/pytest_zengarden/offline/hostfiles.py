"""Recorded blade files: ``DIR/hosts/<blade>/`` mirrors the blade's root filesystem."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TargetError

JOURNAL_DIR = ".journal"  # <unit>.log: `journalctl -u UNIT -b -o short-unix` as recorded
MTIMES = ".mtimes.json"  # blade path -> unix mtime, as recorded (a checkout's own file times mean nothing)


class FileTreeHost:
    """A blade as a directory of recorded files (offline target)."""

    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root
        self.endpoint = f"blade {name} (recorded at {root})"

    def read_file(self, path: str) -> str | None:
        target = (self.root / path.lstrip("/")).resolve()
        # A recording must not make the checks read outside it (e.g. through ../ or a symlink).
        if not target.is_relative_to(self.root.resolve()):
            return None
        try:
            return target.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def journal(self, unit: str) -> str:
        path = self.root / JOURNAL_DIR / f"{unit}.log"
        if not path.is_file():
            raise TargetError(self.endpoint, f"no journal of {unit} recorded ({path} is missing)")
        return path.read_text(encoding="utf-8")

    def mtime(self, path: str) -> float | None:
        if self.read_file(path) is None:
            return None
        table = self.root / MTIMES
        try:
            times = json.loads(table.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            times = {}
        if not isinstance(times, dict) or not isinstance(times.get(path), int | float):
            raise TargetError(self.endpoint, f"the recording has no modification time for {path} (add it to {table})")
        return float(times[path])

    def hostname(self) -> str:
        return (self.read_file("/etc/hostname") or "").strip() or self.name
