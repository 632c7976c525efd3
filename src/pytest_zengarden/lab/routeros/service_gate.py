"""``/ip/service`` as the emulated router applies it to its own listeners (pure, reads the store).

A RouterOS service that is disabled does not answer, and one with an ``address`` list serves only
clients from those networks.  The emulator cannot stop its sockets per service without racing the
store, so it applies the same rule when a connection arrives: a client the service would not admit is
disconnected at once, before a word of the protocol (no login prompt, no HTTP answer).
"""

from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from .store import ConfigStore

# emulator listener kind -> RouterOS /ip/service name
SERVICE_OF = {"api": "api", "api-ssl": "api-ssl", "rest": "www", "rest-ssl": "www-ssl"}


def turn_away(store: ConfigStore, kind: str, writer: asyncio.StreamWriter, log: logging.Logger) -> bool:
    """Close ``writer`` at once (and say why) when ``/ip/service`` does not admit its peer; True if closed."""
    peer = writer.get_extra_info("peername")
    ok, why = admits(store, kind, peer)
    if ok:
        return False
    who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
    log.info("%s %s: disconnected at once (%s)", kind, who, why)
    writer.close()
    return True


def admits(store: ConfigStore, kind: str, peer: object) -> tuple[bool, str]:
    """(whether ``/ip/service`` lets ``peer`` use listener ``kind``, the reason)."""
    name = SERVICE_OF[kind]
    rows = [r for r in store.print("/ip/service") if r.get("name") == name]
    if not rows:
        return True, f"no /ip/service entry {name}"
    row = rows[0]
    if row.get("disabled") in ("true", "yes"):
        return False, f"/ip/service {name} is disabled"
    allowed = [a.strip() for a in (row.get("address") or "").split(",") if a.strip()]
    if not allowed:
        return True, f"/ip/service {name} admits any address"
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    try:
        addr = ip_address(str(host))
    except ValueError:
        return False, f"peer {host!r} is not an address"
    for text in allowed:
        try:
            net = ip_network(text, strict=False)
        except ValueError:
            continue
        if isinstance(net, IPv4Network) == isinstance(addr, IPv4Address) and addr in net:
            return True, f"/ip/service {name} admits {text}"
    return False, f"/ip/service {name} admits only {','.join(allowed)}"
