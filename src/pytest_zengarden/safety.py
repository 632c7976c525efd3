"""The network safety rule: site addresses are only ever contacted from inside the lab.

In lab mode the harness must run in a lab network namespace (which has no route out); from the
machine's root namespace, contacting a site address is refused before any packet is sent.
"""

from __future__ import annotations

import os

from .errors import UnsafeTarget


def netns_inode(pid: str = "self") -> int | None:
    """Inode of a process's network namespace (``None`` where /proc does not tell)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def in_root_netns() -> bool:
    """True when this process shares PID 1's network namespace (the machine's own network)."""
    mine, init = netns_inode(), netns_inode("1")
    # If we cannot tell, assume the worst: refusing is safe, probing is not.
    return mine is None or init is None or mine == init


def require_lab_netns(address: str) -> None:
    """Refuse to contact ``address`` for the lab unless we run inside a lab namespace."""
    if in_root_netns():
        raise UnsafeTarget(
            f"refusing to contact lab address {address} from the machine's root network namespace; "
            "lab checks run inside the lab's management namespace (`zengarden lab shell management`)"
        )
