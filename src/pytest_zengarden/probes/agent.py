"""The probe agent: real TCP/UDP connection attempts with classified answers (stdlib only, one file).

It runs at a segment's vantage point: inside a lab namespace (through :mod:`pytest_zengarden.lab.probe`,
which adds the lab's safety refusal) or, on a live site, on a host of the segment, where it is shipped
over SSH as this file's source (``python3 -c <source> probe``).  It therefore imports nothing outside
the standard library.

``run_probes`` sends one probe per flow and says what came back:

* ``open``     -- TCP handshake completed / the destination answered the UDP datagram (our listener
  echoes the nonce; any other answer counts too: it came from the destination);
* ``closed``   -- the destination itself said "nobody here" (TCP RST, or ICMP port-unreachable sent
  by the destination address for UDP);
* ``rejected`` -- an ICMP destination-unreachable from somewhere else (a firewall's ``reject``), or any
  other unreachable code; ``detail`` names the ICMP code and who sent it;
* ``filtered`` -- silence until the timeout (a ``drop``);
* ``error``    -- the probe could not be run (bad probe, no local route, ...).

ICMP answers are told apart from RSTs by reading the socket's error queue (``IP_RECVERR``), which
carries the ICMP type, code and offender address.  A firewall's ``reject with tcp-reset`` therefore
looks ``closed``, exactly like a closed port: the wire cannot tell them apart either.

``serve_listeners`` is the other end: TCP accept-and-close, UDP echo.  Both directions are bounded in
time and count.  Run as a script, the agent refuses to start unless ``ZG_PROBE_AGENT=remote`` says it was
shipped to a site's host: on this machine probes only ever leave from inside the lab
(``python -m pytest_zengarden.lab.probe``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import json
import os
import secrets
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast


class Refused(Exception):
    """A guard refused the probes or listeners before anything was sent or bound."""


Guard = Callable[[list[dict[str, Any]]], None]
IP_RECVERR = 11  # <linux/in.h>; Python's socket module does not export it
IP_PKTINFO = 8  # <linux/in.h>; not exported either
_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
SO_EE_ORIGIN_ICMP = 2  # <linux/errqueue.h>
_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err, followed by the offender's sockaddr_in
ICMP_DEST_UNREACH = 3
ICMP_PORT_UNREACH = 3
_UNREACH_CODES = {
    0: "net-unreachable",
    1: "host-unreachable",
    2: "protocol-unreachable",
    3: "port-unreachable",
    4: "fragmentation-needed",
    6: "net-unknown",
    7: "host-unknown",
    9: "net-prohibited",
    10: "host-prohibited",
    13: "admin-prohibited",
}
MAX_TIMEOUT = 30.0  # seconds; one probe never waits longer
MAX_LISTEN_SECONDS = 86400.0
_UDP_SENDS = 2  # a second datagram halfway through the timeout survives one lost packet
_MAX_ERRQUEUE = 16  # bound on error-queue reads per failure
_UDP_BATCH = 64  # bound on datagrams echoed per wake-up, so one flood cannot starve the stop check

Probe = dict[str, Any]


# --- probing --------------------------------------------------------------------------------------


def run_probes(probes: list[Probe], concurrency: int = 64, guard: Guard | None = None) -> list[Probe]:
    """Run ``probes`` concurrently and return them in order, each with ``result``, ``detail`` and ``elapsed``.

    A probe is ``{"proto": "tcp"|"udp", "dst": "192.168.77.170", "port": 443, "timeout": 1.0}`` with
    optional ``src`` (local address to bind) and ``sport`` (local port).  Bad probes come back as
    ``error``; they do not stop the batch.  The whole run takes at most
    ``ceil(len(probes) / concurrency) * max(timeout)`` plus scheduling.  ``guard`` sees every probe
    before any is sent and may raise to refuse them all.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if guard is not None:
        guard(probes)  # all or nothing: no probe leaves before every one is known to be safe
    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=min(concurrency, len(probes)), thread_name_prefix="zg-probe") as pool:
        return list(pool.map(_probe_one, probes))


def _probe_one(probe: Probe) -> Probe:
    start = time.monotonic()
    try:
        proto, dst, port, timeout, local = _validate(probe)
        result, detail = (_tcp if proto == "tcp" else _udp)(dst, port, timeout, local)
    except ValueError as exc:
        result, detail = "error", f"bad probe: {exc}"
    except OSError as exc:  # local failures: bind, socket creation, ...
        result, detail = "error", f"{type(exc).__name__}: {exc}"
    return {**probe, "result": result, "detail": detail, "elapsed": round(time.monotonic() - start, 4)}


def _validate(probe: Probe) -> tuple[str, str, int, float, tuple[str, int] | None]:
    proto = probe.get("proto")
    if proto not in ("tcp", "udp"):
        raise ValueError(f"proto must be 'tcp' or 'udp', got {proto!r}")
    try:
        dst = str(ipaddress.IPv4Address(str(probe.get("dst"))))
    except ValueError:
        raise ValueError(f"dst must be an IPv4 address, got {probe.get('dst')!r}") from None
    port = _port(probe.get("port"), "port")
    timeout = probe.get("timeout", 1.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be a number in (0, {MAX_TIMEOUT:g}], got {timeout!r}")
    local: tuple[str, int] | None = None
    if probe.get("src") is not None or probe.get("sport") is not None:
        src = "0.0.0.0"
        if probe.get("src") is not None:
            try:
                src = str(ipaddress.IPv4Address(str(probe["src"])))
            except ValueError:
                raise ValueError(f"src must be an IPv4 address, got {probe['src']!r}") from None
        sport = _port(probe["sport"], "sport") if probe.get("sport") is not None else 0
        local = (src, sport)
    return proto, dst, port, float(timeout), local


def _port(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{name} must be an integer 1-65535, got {value!r}")
    return value


def _socket(kind: int, local: tuple[str, int] | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    try:
        # Queue ICMP errors with their type/code/offender, and report all of them (not only "hard" ones).
        sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
        if local is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(local)
    except OSError:
        sock.close()
        raise
    return sock


def _icmp_error(sock: socket.socket) -> tuple[int, int, str] | None:
    """(ICMP type, code, offender) of the first ICMP error queued on ``sock``, if any."""
    # Non-blocking for real: with a timeout set, Python would first poll for POLLIN, which an empty
    # error queue never signals, and sit out the whole timeout.
    sock.settimeout(0)
    for _ in range(_MAX_ERRQUEUE):
        try:
            _, ancdata, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(512), socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return None
        for level, ctype, data in ancdata:
            if level != socket.SOL_IP or ctype != IP_RECVERR or len(data) < _EE.size + 8:
                continue
            _errno, origin, icmp_type, icmp_code, _pad, _info, _data = _EE.unpack_from(data)
            if origin != SO_EE_ORIGIN_ICMP:
                continue
            offender = socket.inet_ntoa(data[_EE.size + 4 : _EE.size + 8])  # sockaddr_in: family, port, addr
            return icmp_type, icmp_code, offender
    return None


def _classify_icmp(icmp: tuple[int, int, str], dst: str, err: int | None) -> tuple[str, str]:
    icmp_type, code, offender = icmp
    suffix = f" ({errno.errorcode.get(err, err)})" if err else ""
    if icmp_type != ICMP_DEST_UNREACH:
        return "error", f"ICMP type {icmp_type} code {code} from {offender}{suffix}"
    name = _UNREACH_CODES.get(code, f"code {code}")
    detail = f"ICMP {name} from {offender}{suffix}"
    # The destination saying "port unreachable" is a closed port; anyone else answering is a firewall.
    if code == ICMP_PORT_UNREACH and offender == dst:
        return "closed", detail
    return "rejected", detail


def _tcp(dst: str, port: int, timeout: float, local: tuple[str, int] | None) -> tuple[str, str]:
    with _socket(socket.SOCK_STREAM, local) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((dst, port))
        except TimeoutError:
            return "filtered", f"no answer within {timeout:g}s"
        except OSError as exc:
            icmp = _icmp_error(sock)
            if icmp is not None:
                return _classify_icmp(icmp, dst, exc.errno)
            if exc.errno == errno.ECONNREFUSED:
                return "closed", "RST (ECONNREFUSED)"
            if exc.errno == errno.EHOSTUNREACH:
                # No ICMP queued: the neighbour never answered ARP, i.e. nothing came back.
                return "filtered", "no answer (EHOSTUNREACH without ICMP)"
            return "error", f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
        return "open", "connected"


def _udp(dst: str, port: int, timeout: float, local: tuple[str, int] | None) -> tuple[str, str]:
    nonce = secrets.token_hex(8).encode()
    payload = b"zgprobe " + nonce
    with _socket(socket.SOCK_DGRAM, local) as sock:
        sock.connect((dst, port))  # connected: the kernel reports ICMP errors for this flow to us
        deadline = time.monotonic() + timeout
        sends, next_send = 0, time.monotonic()
        # Bounded: at most _UDP_SENDS sends plus a few wake-ups per send/stray datagram, and the deadline.
        for _ in range(4 * _UDP_SENDS + 64):
            now = time.monotonic()
            if now >= deadline:
                break
            try:
                if sends < _UDP_SENDS and now >= next_send:
                    sock.send(payload)
                    sends += 1
                    next_send = now + timeout / _UDP_SENDS
                wake = min(deadline, next_send) if sends < _UDP_SENDS else deadline
                sock.settimeout(max(wake - time.monotonic(), 0.001))
                data = sock.recv(2048)
            except TimeoutError:
                continue
            except OSError as exc:
                icmp = _icmp_error(sock)
                if icmp is not None:
                    return _classify_icmp(icmp, dst, exc.errno)
                if exc.errno == errno.ECONNREFUSED:
                    return "closed", "ECONNREFUSED without ICMP details"
                return "error", f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
            if nonce in data:
                return "open", "echo received"
            # A connected UDP socket only receives from the destination: whatever it says, it got there.
            return "open", f"answered by the destination ({len(data)} bytes, not our echo)"
        return "filtered", f"no answer within {timeout:g}s"


# --- listening ------------------------------------------------------------------------------------


def serve_listeners(
    bind: str,
    tcp_ports: Sequence[int],
    udp_ports: Sequence[int],
    stop: threading.Event,
    seconds: float = 3600.0,
    on_ready: Callable[[], None] | None = None,
    busy: list[str] | None = None,
) -> None:
    """Listen on ``bind``: TCP ports accept and close at once, UDP ports echo each datagram back.

    Blocks until ``stop`` is set or ``seconds`` have passed (whichever comes first); calls ``on_ready``
    once every socket is bound (pass ``event.set`` to wait for it from another thread).  Refuses
    non-loopback addresses in the machine's root namespace.  With ``busy`` (a list), a port some other
    program already serves is skipped and named there (``tcp/22``) instead of failing: it answers anyway.
    """
    deadline = time.monotonic() + min(seconds, MAX_LISTEN_SECONDS)
    sockets: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        try:
            for port in tcp_ports:
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if not _bind(tcp, bind, port, "tcp", busy):
                    continue
                tcp.listen(128)
                tcp.setblocking(False)
                sel.register(tcp, selectors.EVENT_READ, "tcp")
            for port in udp_ports:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(udp)
                # Learn each datagram's destination address, to answer from it (see _serve).
                udp.setsockopt(socket.SOL_IP, IP_PKTINFO, 1)
                if not _bind(udp, bind, port, "udp", busy):
                    continue
                udp.setblocking(False)
                sel.register(udp, selectors.EVENT_READ, "udp")
            if on_ready is not None:
                on_ready()
            while not stop.is_set() and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=min(0.2, max(deadline - time.monotonic(), 0))):
                    _serve(cast(socket.socket, key.fileobj), key.data)
        finally:
            for s in sockets:
                s.close()


def _bind(sock: socket.socket, address: str, port: int, kind: str, busy: list[str] | None) -> bool:
    """Bind ``sock``; with ``busy`` given, a port in use is recorded there and ``False`` returned."""
    try:
        sock.bind((address, port))
    except OSError as exc:
        if busy is None or exc.errno != errno.EADDRINUSE:
            raise
        busy.append(f"{kind}/{port}")
        return False
    return True


def _serve(sock: socket.socket, kind: str) -> None:
    if kind == "tcp":
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        conn.close()  # the handshake already told the prober "open"
        return
    for _ in range(_UDP_BATCH):
        try:
            data, ancdata, _, peer = sock.recvmsg(65535, socket.CMSG_SPACE(_PKTINFO.size))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # e.g. a queued ICMP error for an earlier echo: nothing to answer
        # Answer from the address the datagram was sent to: bound to 0.0.0.0 on a host with several
        # addresses, the kernel would otherwise pick the primary one, and the prober's connected
        # socket would discard an echo from the "wrong" address.
        reply_anc = []
        for level, ctype, cdata in ancdata:
            if level == socket.SOL_IP and ctype == IP_PKTINFO and len(cdata) >= _PKTINFO.size:
                _ifindex, _spec_dst, dst_addr = _PKTINFO.unpack_from(cdata)
                reply_anc.append((socket.SOL_IP, IP_PKTINFO, _PKTINFO.pack(0, dst_addr, bytes(4))))
        with contextlib.suppress(OSError):  # the echo is best effort; the prober then sees "filtered"
            sock.sendmsg([data], reply_anc, 0, peer)


# --- command line ---------------------------------------------------------------------------------


def _ports(text: str) -> list[int]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            value = int(part)
            if not 1 <= value <= 65535:
                raise argparse.ArgumentTypeError(f"port out of range: {value}")
            out.append(value)
    return out


def main(
    argv: Sequence[str] | None = None,
    *,
    guard: Guard | None = None,
    listen_guard: Callable[[str], None] | None = None,
    prog: str = "probe_agent",
) -> int:
    """CLI: ``probe`` reads a JSON list of probes on stdin and prints results; ``listen`` runs listeners.

    ``guard`` vets the probes and ``listen_guard`` the listening address before anything happens.
    """
    parser = argparse.ArgumentParser(prog=prog, description="probe agent: connection attempts and listeners")
    sub = parser.add_subparsers(dest="command", required=True)
    p_probe = sub.add_parser("probe", help="read a JSON list of probes on stdin, print JSON results")
    p_probe.add_argument("--concurrency", type=int, default=64)
    p_listen = sub.add_parser("listen", help="TCP accept+close and UDP echo listeners for a bounded time")
    p_listen.add_argument("--bind", default="0.0.0.0")
    p_listen.add_argument("--tcp", type=_ports, default=[], help="comma list of TCP ports")
    p_listen.add_argument("--udp", type=_ports, default=[], help="comma list of UDP ports")
    p_listen.add_argument(
        "--seconds", type=float, required=True, help=f"stop after this long (<= {MAX_LISTEN_SECONDS:g})"
    )
    p_listen.add_argument(
        "--skip-busy", action="store_true", help="skip ports another program already serves (named in the ready line)"
    )
    args = parser.parse_args(argv)

    if args.command == "probe":
        try:
            probes = json.load(sys.stdin)
            if not isinstance(probes, list) or not all(isinstance(p, dict) for p in probes):
                raise ValueError("expected a JSON list of objects")
            results = run_probes(probes, concurrency=args.concurrency, guard=guard)
        except (ValueError, Refused) as exc:
            print(f"probe: {exc}", file=sys.stderr)
            return 2
        json.dump(results, sys.stdout)
        sys.stdout.write("\n")
        return 0

    if not 0 < args.seconds <= MAX_LISTEN_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_LISTEN_SECONDS:g}]")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    busy: list[str] | None = [] if args.skip_busy else None

    def announce() -> None:
        # One JSON line once every socket is bound: the caller waits for it instead of guessing.
        ready = {"ready": True, "bind": args.bind, "tcp": args.tcp, "udp": args.udp, "busy": busy or []}
        print(json.dumps(ready), flush=True)

    try:
        if listen_guard is not None:
            listen_guard(args.bind)
        serve_listeners(args.bind, args.tcp, args.udp, stop, seconds=args.seconds, on_ready=announce, busy=busy)
    except (OSError, Refused) as exc:
        print(f"listen: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    if os.environ.get("ZG_PROBE_AGENT") != "remote":
        print(
            "probe_agent: refusing to run here; on this machine probes leave only from inside the lab "
            "(python -m pytest_zengarden.lab.probe), on a site the plugin ships this agent over SSH",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(main())
