"""Where in a site file a value sits: a path of keys and indexes, and how to print it."""

from __future__ import annotations

from collections.abc import Iterable

Loc = tuple[str | int, ...]


def format_loc(loc: Iterable[str | int]) -> str:
    """``('firewall', 'allow', 2, 'to')`` -> ``firewall.allow[2].to``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
