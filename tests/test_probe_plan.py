"""Probe planning, predictions from the configuration, and the judgements of what came back (pure)."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path

import pytest

from pytest_zengarden.analysis.firewall_eval import Firewall
from pytest_zengarden.analysis.matrix import MatrixRow
from pytest_zengarden.checks import probes as checks
from pytest_zengarden.checks.site import flow_matrix
from pytest_zengarden.desired.router import desired_router
from pytest_zengarden.errors import TargetError, UnsafeTarget
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.probes.agent import run_probes as agent_run_probes
from pytest_zengarden.probes.plan import (
    Observation,
    PlannedProbe,
    named_ports,
    observed,
    plan,
    predict,
    probed_rows,
    sample_ports,
)
from pytest_zengarden.probes.prober import Prober, SshLogin, Vantage
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import Protocol

from .helpers import SITE


@pytest.fixture(scope="module")
def site():
    return load_site(SITE)


@pytest.fixture(scope="module")
def desired(site):
    return RouterConfig.from_records(desired_router(site), "desired")


def row_of(site, src: str, dst: str, proto: str, port: int) -> MatrixRow:
    for r in flow_matrix(site).rows_for(src, dst, Protocol(proto)):
        if r.ports is not None and port in r.ports:
            return r
    raise AssertionError("no such row")


def test_named_ports_are_the_ports_the_design_names(site):
    ports = named_ports(site)
    assert {22, 53, 80, 443, 6443, 8728, 8729, 8291, 5555, 9100, 51820} <= ports
    assert all(1 <= p <= 65535 for p in ports)


def test_a_row_is_sampled_at_its_ends_middle_and_named_ports(site):
    row = row_of(site, "home", "cluster", "tcp", 100)
    assert (row.ports.lo, row.ports.hi) == (81, 442)
    assert sample_ports(row, {22, 80, 100, 443}) == [81, 100, 261, 442]
    single = row_of(site, "home", "cluster", "tcp", 443)
    assert sample_ports(single, {443}) == [443]


def test_the_plan_covers_every_ported_routed_row_and_nothing_else(site):
    rows = flow_matrix(site).rows
    planned = plan(site, rows)
    covered = {p.flow_id for p in planned}
    assert covered == {r.flow_id for r in probed_rows(site, rows)}
    assert not [p for p in planned if p.protocol is Protocol.ICMP]
    assert not [p for p in planned if {p.src, p.dst} <= {"cluster", "pods", "services"}]  # same wire
    assert len(planned) == len({(p.src, p.dst, p.protocol, p.port) for p in planned})  # no duplicates
    assert any(p.id == "home->cluster:tcp/22" for p in planned)  # named ports are probed in default rows


@pytest.mark.parametrize(
    ("src", "dst", "proto", "port", "src_addr", "dst_addr", "expect"),
    [
        ("home", "cluster", "tcp", 443, "192.168.88.10", "192.168.77.10", "reached"),
        ("home", "cluster", "tcp", 22, "192.168.88.10", "192.168.77.10", "filtered"),
        ("cluster", "internet", "udp", 53, "192.168.77.10", "203.0.113.254", "reached"),
        ("internet", "cluster", "tcp", 443, "203.0.113.254", "192.168.77.10", "filtered"),
        ("wireguard", "pods", "tcp", 443, "192.168.216.2", "10.42.0.10", "reached"),
    ],
)
def test_predictions_follow_the_designed_configuration(
    site, desired, src, dst, proto, port, src_addr, dst_addr, expect
):
    probe = PlannedProbe("x", src, dst, Protocol(proto), port)
    assert predict(site, Firewall(desired), probe, src_addr, dst_addr).expect == expect


def test_a_configuration_that_refuses_the_answer_predicts_silence(site):
    # No "established,related accept": the request is accepted, the answer meets the final drop.
    cfg = RouterConfig.from_records(
        {
            "/ip/firewall/filter": [
                {"chain": "forward", "action": "accept", "connection-state": "new", "comment": "new only"},
                {"chain": "forward", "action": "drop", "comment": "the rest"},
            ]
        },
        "test",
    )
    probe = PlannedProbe("x", "home", "cluster", Protocol.TCP, 443)
    p = predict(site, Firewall(cfg), probe, "192.168.88.10", "192.168.77.10")
    assert p.expect == "filtered"
    assert p.describe() == 'config accepts it (rule #0 "new only") but drops the answer (rule #1 "the rest")'


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        ("open", "reached"),
        ("closed", "reached"),
        ("filtered", "filtered"),
        ("rejected", "rejected"),
        ("error", "error"),
    ],
)
def test_results_map_to_firewall_verdicts(result, verdict):
    assert observed(result) == verdict


def obs(site, src, dst, proto, port, result, detail=""):
    return Observation(
        PlannedProbe("r", src, dst, Protocol(proto), port), "192.168.88.10", "192.168.77.10", result, detail
    )


def test_observed_flow_fails_where_packets_disagree_with_the_design(site):
    allow = row_of(site, "home", "cluster", "tcp", 443)
    deny = row_of(site, "home", "cluster", "tcp", 22)
    assert checks.observed_flow(allow, [obs(site, "home", "cluster", "tcp", 443, "open")]).ok
    assert checks.observed_flow(allow, [obs(site, "home", "cluster", "tcp", 443, "closed")]).ok  # the target answered
    bad = checks.observed_flow(allow, [obs(site, "home", "cluster", "tcp", 443, "filtered", "no answer within 1s")])
    assert not bad.ok and "expected accept, the probe was filtered" in bad.message
    bad = checks.observed_flow(deny, [obs(site, "home", "cluster", "tcp", 22, "open", "connected")])
    assert not bad.ok and "home -> cluster tcp/22: expected drop, the probe reached the target" in bad.message
    assert bad.control == "FW-DEFAULT-DENY"
    failed = checks.observed_flow(deny, [obs(site, "home", "cluster", "tcp", 22, "error", "EPERM")])
    assert not failed.ok and "the probe failed: EPERM" in failed.message  # an error never passes
    with pytest.raises(ValueError, match="no probe was sent"):
        checks.observed_flow(deny, [obs(site, "home", "cluster", "tcp", 22, "skipped")])


def test_differential_names_the_rule_the_packets_contradict(site, desired):
    fw = Firewall(desired)
    allow = row_of(site, "home", "cluster", "tcp", 443)
    assert checks.differential(site, fw, allow, [obs(site, "home", "cluster", "tcp", 443, "open")]).ok
    bad = checks.differential(site, fw, allow, [obs(site, "home", "cluster", "tcp", 443, "filtered", "silence")])
    assert not bad.ok
    assert "config accepts it (rule #" in bad.message and "but it was filtered (silence)" in bad.message
    deny = row_of(site, "home", "cluster", "tcp", 22)
    bad = checks.differential(site, fw, deny, [obs(site, "home", "cluster", "tcp", 22, "open", "connected")])
    assert "config drops it (rule #" in bad.message and "should be filtered, but it was open" in bad.message


def test_prober_refuses_namespaces_that_are_not_the_labs():
    with pytest.raises(UnsafeTarget, match="not the lab's"):
        Prober({"home": Vantage("home", "192.168.88.10", netns="elsewhere")}, ["zg-home"], [])
    with pytest.raises(UnsafeTarget, match="need the lab's agent"):
        Prober({"home": Vantage("home", "192.168.88.10", netns="zg-home")}, ["zg-home"], [])
    with pytest.raises(ValueError, match="exactly one of netns and ssh"):
        Prober({"home": Vantage("home", "192.168.88.10")}, [], [])
    login = SshLogin("probe", Path("/nonexistent/key"))
    both = Vantage("home", "192.168.88.10", netns="zg-home", ssh=login)
    with pytest.raises(ValueError, match="exactly one"):
        Prober({"home": both}, ["zg-home"], [], netns_agent=("agent",))


def test_ssh_command_verifies_host_keys_and_never_prompts():
    cmd = SshLogin("probe", Path("/k"), 2222, known_hosts=Path("/kh")).command("192.168.77.171", "true")
    assert cmd[0] == "ssh" and "BatchMode=yes" in cmd and "StrictHostKeyChecking=yes" in cmd
    assert "UserKnownHostsFile=/kh" in cmd and cmd[-2:] == ["probe@192.168.77.171", "true"]
    assert cmd[cmd.index("-p") : cmd.index("-p") + 2] == ["-p", "2222"]


# --- found in review --------------------------------------------------------------------------------------


def test_a_reset_on_a_port_our_listener_serves_is_a_firewall_reject():
    assert observed("closed", listened=True) == "rejected"  # our listener would have accepted: a tcp-reset reject
    assert observed("closed", listened=False) == "reached"  # a real service on a busy port said "not here"
    assert observed("open", listened=True) == "reached"


def test_observed_flow_counts_a_reset_where_we_listen_as_stopped(site):
    allow = row_of(site, "home", "cluster", "tcp", 443)
    probe = PlannedProbe("r", "home", "cluster", Protocol.TCP, 443)
    reset = Observation(probe, "192.168.88.10", "192.168.77.10", "closed", "RST (ECONNREFUSED)", listened=True)
    f = checks.observed_flow(allow, [reset])
    assert not f.ok and "expected accept, the probe was rejected" in f.message


class FakeAgentProber(Prober):
    """The real runner with the agent replaced by a script printing ``output`` (a malformed agent)."""

    def __init__(self, output: str):
        home = {"home": Vantage("home", "192.168.88.10", netns="zg-home")}
        super().__init__(home, ["zg-home"], [], netns_agent=("unused",))
        self.output = output

    def _cmd(self, v, *args):  # type: ignore[no-untyped-def]
        return [sys.executable, "-c", f"import sys; sys.stdin.read(); print({self.output!r})"]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("null", "returned NoneType results for 1 probes"),
        ("5", "returned int results for 1 probes"),
        ('[{"x": 1}]', "returned a malformed result"),
        ('["open"]', "returned a malformed result"),
        ("[]", "returned 0 results for 1 probes"),
        ("not json", "printed no JSON"),
    ],
)
def test_a_malformed_agent_answer_is_an_error_naming_the_vantage(output, message):
    prober = FakeAgentProber(output)
    with pytest.raises(TargetError, match=message) as exc:
        prober.run({"home": [{"proto": "tcp", "dst": "192.168.77.10", "port": 443}]})
    assert "zg-home" in str(exc.value)


def test_a_udp_answer_that_is_not_our_echo_still_means_the_target_was_reached():
    """Any datagram on the connected socket came from the destination (here: a loopback server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]

    def answer() -> None:
        with contextlib.suppress(OSError):
            _, peer = server.recvfrom(2048)
            server.sendto(b"FORMERR", peer)

    t = threading.Thread(target=answer)
    t.start()
    try:
        got = agent_run_probes([{"proto": "udp", "dst": "127.0.0.1", "port": port, "timeout": 2.0}])
    finally:
        t.join(5)
        server.close()
    assert got[0]["result"] == "open" and "not our echo" in got[0]["detail"]


def test_a_refused_answer_makes_udp_see_the_reject_of_its_second_datagram(site):
    """Conntrack saw the (refused) answer: the prober's next datagram is established, and rejected."""
    cfg = RouterConfig.from_records(
        {
            "/ip/firewall/filter": [
                {"chain": "forward", "action": "accept", "connection-state": "new", "comment": "new only"},
                {"chain": "forward", "action": "reject", "comment": "the rest"},
            ]
        },
        "test",
    )
    fw = Firewall(cfg)
    udp = PlannedProbe("x", "home", "cluster", Protocol.UDP, 53)
    tcp = PlannedProbe("x", "home", "cluster", Protocol.TCP, 53)
    assert predict(site, fw, udp, "192.168.88.10", "192.168.77.10").expect == "rejected"
    assert predict(site, fw, tcp, "192.168.88.10", "192.168.77.10").expect == "filtered"  # no SYN resent in time
