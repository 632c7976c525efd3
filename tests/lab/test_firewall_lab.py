"""The firewall conformance suites against the lab: the default lab passes, each network deviation fails
exactly its checks (naming the deciding rule), a data plane that disagrees with its configuration is
caught by the differential check, and an ``.rsc`` export of the same rules judges like the live lab.

Each case builds its own lab (``zengarden lab up [--deviate NAME]``) and runs the suites inside the
management namespace, as ``scripts/main`` does.
"""

from __future__ import annotations

import json
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

SUITES = ("suites/test_firewall.py", "suites/test_firewall_probes.py", "suites/test_router.py")
NOT_IN_CONFIG = "test: not in the RouterOS config"
TELNET_FROM = ("cluster", "home", "management", "wireguard")  # LAN segments: the input chain admits them

# deviation -> the checks it must fail (and nothing else may fail)
EXPECTED_FAILURES: dict[str, set[str]] = {
    "home-ssh": {"test_flow[home->cluster:tcp/1-79]", "test_flow_probed[home->cluster:tcp/1-79]"},
    "wg-missing-allow": {
        "test_flow[wireguard->cluster:tcp/1-65535]",
        "test_flow[wireguard->cluster:udp/1-65535]",
        "test_flow[wireguard->cluster:icmp]",
        "test_flow_probed[wireguard->cluster:tcp/1-65535]",
        "test_flow_probed[wireguard->cluster:udp/1-65535]",
        "test_other_protocols[wireguard->cluster:other]",
    },
    "mgmt-inbound": {
        "test_flow[home->management:tcp/1-65535]",
        "test_flow[home->management:udp/1-65535]",
        "test_flow[home->management:icmp]",
        "test_flow_probed[home->management:tcp/1-65535]",
        "test_flow_probed[home->management:udp/1-65535]",
        "test_other_protocols[home->management:other]",
        "test_no_inbound[management]",
    },
    "telnet-on": {"test_service[telnet]"} | {f"test_router_access[{s}->router:telnet]" for s in TELNET_FROM},
}


@pytest.fixture(scope="module")
def make_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for the module: ``up()`` rebuilds only when a test asks for another mode or deviation, so
    the tests that want the default lab run in a row and share it (each build costs ~20 s)."""
    lab = Lab(
        load_site(SITE),
        SITE,
        tmp_path_factory.mktemp("firewall-lab") / "state",
        progress=lambda msg: None,
        parts=("router",),
    )  # network checks only: the router is all it provisions
    yield lab
    lab.down()


def run_suites(lab: Lab, xml: Path, *args: str, target: str = "lab") -> dict[str, dict[str, Any]]:
    """Run the firewall and router suites inside the lab's management namespace; JUnit cases by test id."""
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         *SUITES, "--zg-target", target, f"--junitxml={xml}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "ZG_LAB_STATE": str(lab.dir)},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    return {name.split("::")[1]: case for name, case in junit_cases(xml).items()}


def outcomes(cases: dict[str, dict[str, Any]], outcome: str) -> set[str]:
    return {name for name, c in cases.items() if c["outcome"] == outcome}


def in_router(*cmd: str) -> str:
    proc = subprocess.run(["ip", "netns", "exec", "zg-router", *cmd], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_default_lab_passes_every_firewall_check(make_lab: Lab, tmp_path: Path) -> None:
    make_lab.up()
    cases = run_suites(make_lab, tmp_path / "j.xml")
    assert not outcomes(cases, "failed") | outcomes(cases, "error"), cases
    assert not outcomes(cases, "skipped")  # every row is observable from the lab's vantage points
    probed = {n for n in cases if n.startswith("test_flow_probed[")}
    assert len(probed) > 40 and len({n for n in cases if n.startswith("test_flow[")}) > len(probed)


def test_differential_check_catches_a_data_plane_that_ignores_its_configuration(make_lab: Lab, tmp_path: Path) -> None:
    make_lab.up()
    try:
        _differential(make_lab, tmp_path)
    finally:  # the next test shares this lab: take the rule out again
        listing = in_router("nft", "-a", "list", "chain", "inet", "zg_routeros", "forward")
        for line in listing.splitlines():
            if NOT_IN_CONFIG in line:
                handle = line.rsplit("# handle ", 1)[1].strip()
                in_router("nft", "delete", "rule", "inet", "zg_routeros", "forward", "handle", handle)


def _differential(make_lab: Lab, tmp_path: Path) -> None:
    # Behind the configuration's back: the kernel drops home -> cluster HTTPS the config accepts.
    in_router("nft", "insert", "rule", "inet", "zg_routeros", "forward", "ip", "saddr", "192.168.88.0/24",
              "tcp", "dport", "443", "drop", "comment", f'"{NOT_IN_CONFIG}"')  # fmt: skip
    cases = run_suites(make_lab, tmp_path / "j.xml", "-k", "home and cluster")
    assert outcomes(cases, "failed") == {
        "test_flow_probed[home->cluster:tcp/443]",
        "test_flow_agrees[home->cluster:tcp/443]",
    }
    message = "\n".join(cases["test_flow_agrees[home->cluster:tcp/443]"]["props"]["deviation"])
    assert "config accepts it (rule #" in message and "but it was filtered" in message, message
    assert cases["test_flow[home->cluster:tcp/443]"]["outcome"] == "passed"  # the configuration is right


SSH_PROBES = """
import json, sys
from pathlib import Path
from pytest_zengarden.probes.prober import Prober, SshLogin, Vantage, run_planned
from pytest_zengarden.lab.probe import LAB_AGENT
from pytest_zengarden.probes.plan import PlannedProbe
from pytest_zengarden.site.schema import Protocol

state = Path(sys.argv[1])
lab = json.loads((state / "lab.json").read_text())
blades = lab["inventory"]["blades"]
login = SshLogin(blades["user"], Path(blades["key_file"]), known_hosts=Path(blades["known_hosts"]))
vantages = {seg: Vantage(seg, p["address"], netns=p["netns"]) for seg, p in lab["probes"].items()}
vantages["cluster"] = Vantage("cluster", "192.168.77.171", ssh=login)  # blade002, as on a live site
prober = Prober(vantages, lab["namespaces"], ["192.168.77.1", "192.168.88.1", "192.168.100.1", "203.0.113.1"],
                netns_agent=LAB_AGENT)
flows = [("cluster", "home", "tcp", 22), ("cluster", "internet", "tcp", 443), ("cluster", "management", "udp", 53),
         ("home", "cluster", "tcp", 443), ("home", "cluster", "tcp", 8080), ("management", "cluster", "udp", 5353)]
planned = [PlannedProbe(f"{s}->{d}", s, d, Protocol(p), port) for s, d, p, port in flows]
print(json.dumps([[o.src_addr, o.dst_addr, o.result] for o in run_planned(prober, planned)]))
"""


def test_probes_over_ssh_from_a_site_host_behave_like_the_namespace_ones(make_lab: Lab) -> None:
    """A live site's vantage is a host reached over SSH: here blade002, with the agent shipped as source."""
    make_lab.up()
    proc = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-c", SSH_PROBES, str(make_lab.dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got == [
        ["192.168.77.171", "192.168.88.10", "filtered"],  # cluster -> home: denied
        ["192.168.77.171", "203.0.113.254", "open"],  # cluster -> internet: allowed, listener answers
        ["192.168.77.171", "192.168.100.10", "filtered"],  # nothing gets into management
        ["192.168.88.10", "192.168.77.171", "open"],  # home -> cluster 443: a listener started over SSH
        ["192.168.88.10", "192.168.77.171", "filtered"],  # home -> cluster 8080: denied
        ["192.168.100.10", "192.168.77.171", "open"],  # management -> all; UDP echoed over SSH
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_network_deviation_fails_exactly_its_checks(make_lab: Lab, tmp_path: Path, name: str) -> None:
    make_lab.up(deviate=[name])
    cases = run_suites(make_lab, tmp_path / "j.xml")
    assert not outcomes(cases, "error")
    assert outcomes(cases, "failed") == EXPECTED_FAILURES[name]
    for test in EXPECTED_FAILURES[name]:
        props = cases[test]["props"]
        assert CATALOGUE[name].breaks in props["control"], (test, props)
        messages = "\n".join(props["deviation"])
        if test.startswith(("test_flow[", "test_other_protocols", "test_no_inbound", "test_router_access")):
            assert "rule #" in messages, messages  # the firewall checks name the deciding rule
    # The data plane agrees with the (wrong) configuration: the differential check passes throughout.
    assert not {n for n in outcomes(cases, "failed") if n.startswith("test_flow_agrees")}


def test_offline_export_judges_like_the_live_lab(make_lab: Lab, tmp_path: Path) -> None:
    make_lab.up(deviate=["home-ssh", "mgmt-inbound", "telnet-on"])
    live = run_suites(make_lab, tmp_path / "live.xml", "-m", "not probe")
    # The same router read over the API, saved as an export, judged by the offline target.
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    export = subprocess.run(
        ["ip", "netns", "exec", "zg-management", sys.executable, "-c",
         "from pytest_zengarden.offline.rsc_render import render_rsc\n"
         "from pytest_zengarden.site.loader import load_site\n"
         "from pytest_zengarden.targets.lab import LabTarget\n"
         f"t = LabTarget(load_site({str(SITE)!r}))\n"
         "print(render_rsc(t.router().config), end='')\n"
         "t.close()\n"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ, "ZG_LAB_STATE": str(make_lab.dir)},
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    (recorded / "router.rsc").write_text(export.stdout, encoding="utf-8")
    offline = run_suites(make_lab, tmp_path / "offline.xml", "-m", "not probe", target=f"offline={recorded}")
    assert set(live) == set(offline)
    assert {n: c["outcome"] for n, c in live.items()} == {n: c["outcome"] for n, c in offline.items()}
    assert outcomes(live, "failed") >= {"test_flow[home->cluster:tcp/1-79]", "test_no_inbound[management]"}
    for name in outcomes(live, "failed"):
        assert live[name]["props"]["deviation"] == offline[name]["props"]["deviation"], name
