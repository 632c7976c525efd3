"""Where the lab keeps its state: one place, shared by the lab and the lab target."""

from __future__ import annotations

import os
from pathlib import Path


def default_lab_state() -> Path:
    """Where `zengarden lab up` keeps the lab's state (``$ZG_LAB_STATE`` overrides)."""
    return Path(os.environ.get("ZG_LAB_STATE", "/var/lib/zengarden/lab"))
