"""Recorded blade files: ``DIR/hosts/<blade>/`` mirrors the blade's root filesystem."""

from __future__ import annotations

from pathlib import Path


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

    def hostname(self) -> str:
        return (self.read_file("/etc/hostname") or "").strip() or self.name
