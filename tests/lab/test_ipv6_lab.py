"""IPv6 in the lab (issue 9, finding 11): off in the converged lab, a real way around the matrix with ``ipv6-bypass``.

The emulated router applies ``/ipv6 settings`` and ``/ipv6 address`` to its namespace and compiles
``/ipv6 firewall filter`` into an ``ip6`` table of its own.  Lab hosts get IPv6 by hand (the lab sends
no router advertisements), as SLAAC would give it them.  Every packet stays inside lab namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zengarden.lab.deviations import CATALOGUE
from pytest_zengarden.lab.lifecycle import Lab
from pytest_zengarden.site.loader import load_site

from ..helpers import REPO, SITE, junit_cases

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="the lab needs root, iproute2 and nftables (installed by ./scripts/setup)",
)

# Pairs whose IPv6 the matrix (partly) denies, among the segments ipv6-bypass gives IPv6 (and the internet).
BYPASSED = {
    f"test_ipv6_segmentation[{pair}:ipv6]"
    for pair in (
        "cluster->home", "cluster->management", "cluster->wireguard",
        "home->cluster", "home->management", "home->wireguard",
        "internet->cluster", "internet->home", "internet->management", "internet->wireguard",
        "wireguard->home", "wireguard->internet", "wireguard->management",
    )
}  # fmt: skip
# Lab hosts and the IPv6 the bypass's router addresses (fd00:<third octet>::1/64) let them use.
HOME = ("zg-home", "fd00:88::10/64", "fd00:88::1")
MANAGEMENT = ("zg-management", "fd00:100::10/64", "fd00:100::1")


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(
        load_site(SITE), SITE, tmp_path / "state", progress=lambda msg: None, parts=("router",)
    )  # network checks only: the router is all it provisions
    yield lab
    lab.down()


def run_suites(lab: Lab, xml: Path) -> dict[str, dict[str, Any]]:
    """The firewall and router suites inside the management namespace; JUnit cases by test id."""
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "suites/test_firewall.py", "suites/test_router.py", "--zg-target", "lab", f"--junitxml={xml}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    return {name.split("::")[1]: case for name, case in junit_cases(xml).items()}


def in_ns(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=30)
    assert not check or proc.returncode == 0, f"{ns}: {' '.join(cmd)}: {proc.stderr}"
    return proc


def give_ipv6(host: tuple[str, str, str]) -> None:
    """An address in the segment's prefix and the router as default route, as SLAAC would set them."""
    ns, address, gateway = host
    in_ns(ns, "ip", "-6", "addr", "add", address, "dev", "eth0", "nodad")
    in_ns(ns, "ip", "-6", "route", "replace", "default", "via", gateway, "dev", "eth0")


# A TCP listener (accept and close, gone after 30 s idle) and one bounded connection attempt, over IPv6.
LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
s.settimeout(30)
print("ready", flush=True)
while True:
    try:
        s.accept()[0].close()
    except TimeoutError:
        break
"""
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    print("open")
except TimeoutError:
    print("filtered")
except ConnectionRefusedError:
    print("closed")
except OSError as exc:
    print("unreachable", exc.errno)
"""
PORT = 2222


@contextlib.contextmanager
def listening(host: tuple[str, str, str]) -> Iterator[None]:
    ns, address = host[0], host[1].split("/")[0]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", LISTEN, address, str(PORT)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)


def connect6(src: tuple[str, str, str], dst: tuple[str, str, str]) -> str:
    """One TCP connection over IPv6 from one lab host to another's listener: open, filtered, closed, unreachable."""
    out = in_ns(src[0], sys.executable, "-c", CONNECT, dst[1].split("/")[0], str(PORT)).stdout.strip()
    return out.split()[0]


def ipv6_outcomes(cases: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {n: c["outcome"] for n, c in cases.items() if n.startswith("test_ipv6_segmentation[")}


def test_converged_lab_has_ipv6_off_and_forwards_none(make_lab: Lab, tmp_path: Path) -> None:
    make_lab.up()
    cases = run_suites(make_lab, tmp_path / "j.xml")
    outcomes = ipv6_outcomes(cases)
    assert len(outcomes) == 20 and set(outcomes.values()) == {"passed"}, outcomes
    assert in_ns("zg-router", "cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6").stdout.strip() == "1"
    give_ipv6(HOME)
    give_ipv6(MANAGEMENT)
    with listening(MANAGEMENT):
        assert connect6(HOME, MANAGEMENT) != "open"  # the router has no IPv6 to forward with


def test_ipv6_bypass_fails_exactly_the_ipv6_checks_and_packets_go_around_the_matrix(
    make_lab: Lab, tmp_path: Path
) -> None:
    make_lab.up(deviate=["ipv6-bypass"])
    cases = run_suites(make_lab, tmp_path / "j.xml")
    failed = {n for n, c in cases.items() if c["outcome"] != "passed"}
    assert failed == BYPASSED
    for name in BYPASSED:
        props = cases[name]["props"]
        assert CATALOGUE["ipv6-bypass"].breaks in props["control"], (name, props)
        assert "no rule: the IPv6 forward chain's default accept" in "\n".join(props["deviation"]), name
    # Real packets: home reaches management over IPv6, which the matrix closes to every segment.
    assert in_ns("zg-router", "cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
    give_ipv6(HOME)
    give_ipv6(MANAGEMENT)
    with listening(MANAGEMENT):
        assert connect6(HOME, MANAGEMENT) == "open"
    # An /ipv6 firewall rule, added through the router's API, closes it: the ip6 table enforces it.
    add_rule = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-c",
         "from pytest_zengarden.site.loader import load_site\n"
         "from pytest_zengarden.targets.lab import LabTarget\n"
         f"t = LabTarget(load_site({str(SITE)!r}))\n"
         "t.router().client.add('/ipv6/firewall/filter', {'chain': 'forward', 'action': 'drop',"
         " 'out-interface': 'ether5', 'comment': 'nothing into management'})\n"
         "t.close()\n"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "ZG_LAB_STATE": str(make_lab.dir)},
    )  # fmt: skip
    assert add_rule.returncode == 0, add_rule.stderr[-2000:]
    assert "nothing into management" in in_ns("zg-router", "nft", "list", "table", "ip6", "zg_routeros6").stdout
    with listening(MANAGEMENT):
        assert connect6(HOME, MANAGEMENT) == "filtered"
