"""The probe agent as the lab runs it: inside a lab namespace, with the lab's safety refusal.

``python -m pytest_zengarden.lab.probe probe|listen`` is :mod:`pytest_zengarden.probes.agent` with a
guard: run from anywhere but one of the lab's namespaces (the machine's root namespace, for one) it
refuses every destination and listening address that is not loopback, before anything is sent.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import UnsafeTarget
from ..probes.agent import MAX_LISTEN_SECONDS, MAX_TIMEOUT, Probe, Refused, _probe_one
from ..probes.agent import main as agent_main
from ..probes.agent import run_probes as agent_run_probes
from ..probes.agent import serve_listeners as agent_serve_listeners
from ..safety import NETNS_DIR, current_lab_netns

__all__ = [
    "LAB_AGENT",
    "MAX_LISTEN_SECONDS",
    "MAX_TIMEOUT",
    "main",
    "outside_root_netns",
    "probe_one",
    "run_probes",
    "serve_listeners",
]

# How the lab target runs this module in a lab namespace (``ip netns exec NS`` + this).
LAB_AGENT = (sys.executable, "-m", "pytest_zengarden.lab.probe")

LAB_NETNS_PREFIX = "zg"  # lab namespaces (topology plans and the lab's own tests) start with this


def outside_root_netns() -> bool:
    """True only when this process provably runs inside a lab namespace (``/run/netns/zg*``).

    The proof is the positive one of :mod:`pytest_zengarden.safety`: our network namespace is one pinned
    by ``ip netns add`` under a lab name.  Anything else counts as the machine's root namespace
    (refusing is safe, probing is not).
    """
    try:
        names = sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(LAB_NETNS_PREFIX))
    except OSError:
        return False
    return current_lab_netns(names) is not None


def _loopback_check(dst: object) -> str | None:
    """The destination if it is a valid non-loopback address (unsafe from the root namespace), else None."""
    try:
        addr = ipaddress.ip_address(str(dst))
    except ValueError:
        return None  # not an address: the probe itself will come back as "error"
    return None if addr.is_loopback else str(addr)


def _refuse_unsafe(probes: list[dict[str, Any]]) -> None:
    if outside_root_netns():
        return
    for p in probes:
        dst = _loopback_check(p.get("dst"))
        if dst is not None:
            raise UnsafeTarget(
                f"refusing to probe {dst} from the machine's root network namespace; "
                "run the probe inside a lab namespace (ip netns exec ...)"
            )


def _refuse_listen(bind: str) -> None:
    if not outside_root_netns() and not ipaddress.ip_address(bind).is_loopback:
        raise UnsafeTarget(f"refusing to listen on {bind} in the machine's root network namespace")


def run_probes(probes: list[Probe], concurrency: int = 64) -> list[Probe]:
    """:func:`pytest_zengarden.probes.agent.run_probes`, refused (:class:`UnsafeTarget`) outside the lab."""
    return agent_run_probes(probes, concurrency, guard=_refuse_unsafe)


def probe_one(probe: Probe) -> Probe:
    """One probe (see :func:`run_probes`), refused (:class:`UnsafeTarget`) outside the lab."""
    _refuse_unsafe([probe])
    return _probe_one(probe)


def serve_listeners(
    bind: str,
    tcp_ports: Sequence[int],
    udp_ports: Sequence[int],
    stop: threading.Event,
    seconds: float = 3600.0,
    on_ready: Callable[[], None] | None = None,
    busy: list[str] | None = None,
) -> None:
    """:func:`pytest_zengarden.probes.agent.serve_listeners`, refused outside the lab unless on loopback."""
    _refuse_listen(bind)
    agent_serve_listeners(bind, tcp_ports, udp_ports, stop, seconds, on_ready, busy)


def _as_refused(check: Callable[[Any], None]) -> Callable[[Any], None]:
    def guard(value: Any) -> None:
        try:
            check(value)
        except UnsafeTarget as exc:
            raise Refused(str(exc)) from None

    return guard


def main(argv: Sequence[str] | None = None) -> int:
    return agent_main(
        argv,
        guard=_as_refused(_refuse_unsafe),
        listen_guard=_as_refused(_refuse_listen),
        prog="python -m pytest_zengarden.lab.probe",
    )


if __name__ == "__main__":
    sys.exit(main())
