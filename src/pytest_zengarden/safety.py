"""The network safety rule: site addresses are only ever contacted from inside the lab.

In lab mode the harness must run inside one of the lab's own network namespaces (which have no route
out of the lab); anywhere else, contacting a site address is refused before any packet is sent.
The check is positive: this process's network namespace must *be* one the lab created (same nsfs
inode as its ``/run/netns/NAME`` handle), so an unreadable ``/proc`` or a foreign namespace refuses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .errors import UnsafeTarget

NETNS_DIR = "/run/netns"


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def current_lab_netns(lab_namespaces: Iterable[str]) -> str | None:
    """The name of the lab namespace this process runs in, or ``None`` if it runs in none of them."""
    mine = _ns_id("/proc/self/ns/net")
    if mine is None:
        return None
    for name in lab_namespaces:
        if _ns_id(os.path.join(NETNS_DIR, name)) == mine:
            return name
    return None


ONLY_LOOPBACK = "ZG_ONLY_LOOPBACK"
"""Set (to ``1``) by the plugin's own tests: a live target may then contact loopback addresses only."""


def only_loopback() -> bool:
    """Whether this process may contact loopback addresses only (:data:`ONLY_LOOPBACK`)."""
    return os.environ.get(ONLY_LOOPBACK, "") not in ("", "0")


def require_loopback(address: str) -> None:
    """Refuse ``address`` unless it is a loopback address literal (or ``localhost``)."""
    import ipaddress

    try:
        loop = address == "localhost" or ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        loop = False
    if not loop:
        raise UnsafeTarget(
            f"refusing to contact {address}: {ONLY_LOOPBACK} is set (the plugin's own tests), so a live target "
            "may reach loopback addresses only"
        )


def require_lab_netns(address: str, lab_namespaces: Iterable[str]) -> str:
    """Refuse to contact ``address`` unless this process runs inside one of ``lab_namespaces``."""
    names = list(lab_namespaces)
    where = current_lab_netns(names)
    if where is None:
        raise UnsafeTarget(
            f"refusing to contact lab address {address} from outside the lab's network namespaces; "
            "lab checks run inside the lab (`zengarden lab exec management -- pytest ...`)"
        )
    return where
