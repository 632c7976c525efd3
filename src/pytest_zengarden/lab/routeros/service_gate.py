"""``/ip/service`` as the emulated router applies it to its own listeners (reads the store).

What RouterOS does, and what a client sees:

* a **disabled** service does not listen: the client's SYN is answered with a RST, ``connect()``
  fails with ``ECONNREFUSED`` (``ConnectionRefusedError``; API clients report "actively refused"
  when the api service is off);
* an **enabled** service listens on every address, and one with an ``address`` list serves only
  clients from those networks: the TCP handshake completes (a port scan shows it open) and the
  router closes the connection before a word of the protocol -- no login reply, no ``!fatal``,
  no HTTP answer, no TLS handshake.  librouteros raises ``ConnectionClosed`` (end of stream where the
  login reply should be), an HTTP client "server disconnected without a response".

The emulator has one listening socket per kind and cannot unbind it per store change without racing
the store, so it decides when a connection arrives, before TLS:

* disabled -> an abortive close (RST) at once: the nearest it can come to a refused SYN; the client
  gets ``ConnectionResetError`` on its first send or read (never a byte, never an orderly end);
* address not admitted -> an orderly close (FIN) at once, then whatever the client already sent is
  read and discarded until it closes (bounded), so the FIN is never overtaken by a RST for unread
  data: the client deterministically reads end-of-stream, as from a router across a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from .store import ConfigStore

# emulator listener kind -> RouterOS /ip/service name
SERVICE_OF = {"api": "api", "api-ssl": "api-ssl", "rest": "www", "rest-ssl": "www-ssl"}

DRAIN_SECONDS = 5.0  # a turned-away client that never closes is dropped after this long
DRAIN_BYTES = 64 * 1024  # and after this much unread input
TLS_HANDSHAKE_SECONDS = 10.0


async def admit(
    store: ConfigStore,
    kind: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    log: logging.Logger,
    ssl_context: ssl.SSLContext | None = None,
) -> bool:
    """Apply ``/ip/service`` to a new connection, then TLS if ``ssl_context``; True if it is to be served.

    When False, the connection is already closed the way RouterOS closes it (see the module doc).
    """
    peer = writer.get_extra_info("peername")
    who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
    verdict, why = decide(store, kind, peer)
    if verdict == "refuse":
        log.info("%s %s: reset at once (%s)", kind, who, why)
        _reset(writer)
        return False
    if verdict == "close":
        log.info("%s %s: closed before a word (%s)", kind, who, why)
        await _close_quietly(reader, writer)
        return False
    if ssl_context is not None:
        try:
            await writer.start_tls(ssl_context, ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.info("%s %s: TLS handshake failed (%s)", kind, who, exc)
            writer.transport.abort()
            return False
    return True


def decide(store: ConfigStore, kind: str, peer: object) -> tuple[str, str]:
    """("serve" | "refuse" | "close", why) for a client ``peer`` of listener ``kind``."""
    name = SERVICE_OF[kind]
    rows = [r for r in store.print("/ip/service") if r.get("name") == name]
    if rows and rows[0].get("disabled") in ("true", "yes"):
        return "refuse", f"/ip/service {name} is disabled"
    ok, why = admits(store, kind, peer)
    return ("serve" if ok else "close"), why


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


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # linger on, zero seconds: close() sends a RST instead of a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _close_quietly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write_eof()
        async with asyncio.timeout(DRAIN_SECONDS):
            seen = 0
            while seen < DRAIN_BYTES and (chunk := await reader.read(4096)):
                seen += len(chunk)
    except (TimeoutError, ConnectionError, OSError):
        pass  # the client went away or never closed: nothing more to wait for
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await writer.wait_closed()
