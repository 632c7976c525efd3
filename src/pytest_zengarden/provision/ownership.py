"""Which router entries the plugin created: id, identity and fingerprint, kept beside the journal.

The ownership comment (``zg:CONTROL ...``) is the first record of ownership; this file is the second,
so a rule whose comment someone edited is still recognised (same id, same content apart from the
comment) and converged, not left behind as the operator's.  Ids are trusted only with a matching
fingerprint: after a reset RouterOS reuses ids, and a new entry under an old id is not the plugin's.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

Entries = dict[str, dict[str, dict[str, str]]]  # menu -> id -> {"key", "fingerprint"}


class Ownership:
    def __init__(self, path: Path | None, router: str):
        self.path = path
        self.router = router
        self._all: dict[str, Entries] = {}
        if path is not None and path.exists():
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self._all = data
        self.entries: Entries = self._all.setdefault(router, {})

    def record(self, menu: str, item_id: str, key: str, fingerprint: str) -> None:
        self.entries.setdefault(menu, {})[item_id] = {"key": key, "fingerprint": fingerprint}

    def forget(self, menu: str, item_id: str) -> None:
        self.entries.get(menu, {}).pop(item_id, None)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ownership.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._all, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
