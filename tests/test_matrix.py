"""The flow matrix: total, consistent with the statements, maximally merged; contradictions found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_zengarden.analysis.matrix import (
    PORTED,
    PROTOCOLS,
    FlowMatrix,
    contradictions,
    expand,
    resolve_refs,
    statement_ports,
)
from pytest_zengarden.analysis.ports import PORT_MAX, PORT_MIN, IntervalSet, PortRange, parse_port_spec
from pytest_zengarden.site.loader import load_site
from pytest_zengarden.site.schema import DefaultPolicy, Firewall, FlowStatement, Protocol, Site

SITE_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "sites" / "zengarden.yaml"
SECTION = "Layer 1 / Firewall Strategy"
SEGMENT_POOL = ("alpha", "beta", "gamma", "delta", "eps")
INTERESTING_PORTS = (1, 2, 22, 53, 79, 80, 81, 443, 1024, 65534, 65535)
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ strategies
@dataclass(frozen=True)
class Policy:
    segments: tuple[str, ...]
    firewall: Firewall


ports_st = st.one_of(st.sampled_from(INTERESTING_PORTS), st.integers(PORT_MIN, PORT_MAX))


@st.composite
def port_spec(draw: st.DrawFn) -> int | str:
    a, b = sorted((draw(ports_st), draw(ports_st)))
    kind = draw(st.sampled_from(["int", "str", "range"]))
    if kind == "int":
        return a
    if kind == "str":
        return str(a)
    return f"{a}-{b}"


@st.composite
def refs(draw: st.DrawFn, segments: tuple[str, ...]) -> list[str] | str:
    choices = [*segments, "*"]
    out = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
    # Also exercise the single-reference shorthand (``from: home``).
    return out[0] if len(out) == 1 and draw(st.booleans()) else out


@st.composite
def statement(draw: st.DrawFn, segments: tuple[str, ...], control: str) -> FlowStatement:
    protocol = draw(st.sampled_from(["tcp", "udp", "icmp", "any"]))
    data: dict[str, Any] = {
        "control": control,
        "section": SECTION,
        "from": draw(refs(segments)),
        "to": draw(refs(segments)),
        "protocol": protocol,
    }
    if protocol in ("tcp", "udp"):
        data["ports"] = draw(st.lists(port_spec(), max_size=3))
    return FlowStatement.model_validate(data)


@st.composite
def policies(draw: st.DrawFn, max_allow: int = 4, max_deny: int = 3) -> Policy:
    n = draw(st.integers(2, 5))
    segments = SEGMENT_POOL[:n]
    n_allow = draw(st.integers(0, max_allow))
    n_deny = draw(st.integers(0, max_deny))
    allow = [draw(statement(segments, f"FW-ALLOW-{i}")) for i in range(n_allow)]
    deny = [draw(statement(segments, f"FW-DENY-{i}")) for i in range(n_deny)]
    verdict = draw(st.sampled_from(["deny", "allow"]))
    default = DefaultPolicy(control="FW-DEFAULT", section=SECTION, verdict=verdict)
    return Policy(segments, Firewall(default=default, allow=allow, deny=deny))


def consistent_policies() -> st.SearchStrategy[Policy]:
    return policies(max_allow=3, max_deny=2).filter(lambda p: contradictions(p.firewall, p.segments) == [])


# ---------------------------------------------------------------------------------------------- oracle
def matches(
    stmt: FlowStatement, segments: tuple[str, ...], src: str, dst: str, proto: Protocol, port: int | None
) -> bool:
    """Brute force, straight from the schema's meaning (independent of matrix.py's helpers)."""
    froms = set(segments) if "*" in stmt.from_ else set(stmt.from_)
    tos = set(segments) if "*" in stmt.to else set(stmt.to)
    if src not in froms or dst not in tos:
        return False
    if stmt.protocol is not Protocol.ANY and stmt.protocol is not proto:
        return False
    if proto in (Protocol.TCP, Protocol.UDP) and stmt.ports:
        assert port is not None
        for spec in stmt.ports:
            lo, _, hi = str(spec).partition("-")
            if int(lo) <= port <= int(hi or lo):
                return True
        return False
    return True


def oracle(policy: Policy, src: str, dst: str, proto: Protocol, port: int | None) -> tuple[str, str, str]:
    """(verdict, control, statement) by brute force: deny wins, then allow, then the default."""
    fw = policy.firewall
    for i, stmt in enumerate(fw.deny):
        if matches(stmt, policy.segments, src, dst, proto, port):
            return "deny", stmt.control, f"firewall.deny[{i}]"
    for i, stmt in enumerate(fw.allow):
        if matches(stmt, policy.segments, src, dst, proto, port):
            return "allow", stmt.control, f"firewall.allow[{i}]"
    return fw.default.verdict, fw.default.control, "firewall.default"


def boundary_ports(fw: Firewall) -> list[int]:
    out = {PORT_MIN, PORT_MAX}
    for stmt in (*fw.allow, *fw.deny):
        for spec in stmt.ports:
            r = parse_port_spec(spec)
            out.update(p for p in (r.lo - 1, r.lo, r.hi, r.hi + 1) if PORT_MIN <= p <= PORT_MAX)
    return sorted(out)


def pairs_of(segments: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(s, d) for s in segments for d in segments if s != d]


# ------------------------------------------------------------------------------------------ properties
@PROPS
@given(policies())
def test_matrix_is_total(policy: Policy) -> None:
    m = expand(policy.firewall, policy.segments)
    assert list(m.pairs()) == pairs_of(policy.segments)
    for s in policy.segments:
        for proto in PROTOCOLS:
            assert m.rows_for(s, s, proto) == []
            with pytest.raises(KeyError):
                m.decide(s, s, proto, 80)
    assert all(r.src != r.dst for r in m.rows)
    keys = {(r.src, r.dst, r.protocol) for r in m.rows}
    assert keys == {(s, d, p) for s, d in pairs_of(policy.segments) for p in PROTOCOLS}
    for src, dst in pairs_of(policy.segments):
        for proto in (Protocol.TCP, Protocol.UDP):
            rows = m.rows_for(src, dst, proto)
            ranges = [r.ports for r in rows if isinstance(r.ports, PortRange)]
            assert len(ranges) == len(rows)
            assert ranges == sorted(ranges, key=lambda r: r.lo)
            assert ranges[0].lo == PORT_MIN
            assert ranges[-1].hi == PORT_MAX
            for a, b in pairwise(ranges):
                assert b.lo == a.hi + 1  # contiguous, so also disjoint
            assert sum(r.size for r in ranges) == PORT_MAX - PORT_MIN + 1
            assert all(r.protocol is proto and r.src == src and r.dst == dst for r in rows)
        icmp = m.rows_for(src, dst, Protocol.ICMP)
        assert len(icmp) == 1
        assert icmp[0].ports is None


@PROPS
@given(policies(), st.data())
def test_decide_matches_brute_force(policy: Policy, data: st.DataObject) -> None:
    m = expand(policy.firewall, policy.segments)
    candidates = [*boundary_ports(policy.firewall), *INTERESTING_PORTS]
    for _ in range(10):
        src, dst = data.draw(st.sampled_from(pairs_of(policy.segments)))
        proto = data.draw(st.sampled_from(PROTOCOLS))
        port = data.draw(st.one_of(st.sampled_from(candidates), st.integers(PORT_MIN, PORT_MAX)))
        got = m.decide(src, dst, proto, port)
        assert (got.verdict, got.control, got.statement) == oracle(policy, src, dst, proto, port)


@PROPS
@given(policies())
def test_every_boundary_port_matches_brute_force(policy: Policy) -> None:
    """Exhaustive over pairs, protocols and every port where a verdict can change."""
    m = expand(policy.firewall, policy.segments)
    ports = boundary_ports(policy.firewall)
    for src, dst in pairs_of(policy.segments):
        for proto in (Protocol.TCP, Protocol.UDP):
            for port in ports:
                got = m.decide(src, dst, proto, port)
                assert (got.verdict, got.control, got.statement) == oracle(policy, src, dst, proto, port)
        got = m.decide(src, dst, Protocol.ICMP)
        assert (got.verdict, got.control, got.statement) == oracle(policy, src, dst, Protocol.ICMP, None)


@PROPS
@given(consistent_policies(), st.data())
def test_consistent_policy_verdict_does_not_depend_on_precedence(policy: Policy, data: st.DataObject) -> None:
    """Without contradictions, 'allow first' and 'deny first' give the same verdict."""
    fw = policy.firewall
    m = expand(fw, policy.segments)
    for _ in range(10):
        src, dst = data.draw(st.sampled_from(pairs_of(policy.segments)))
        proto = data.draw(st.sampled_from(PROTOCOLS))
        port = data.draw(st.sampled_from(boundary_ports(fw)))
        if any(matches(s, policy.segments, src, dst, proto, port) for s in fw.allow):
            allow_first = "allow"
        elif any(matches(s, policy.segments, src, dst, proto, port) for s in fw.deny):
            allow_first = "deny"
        else:
            allow_first = fw.default.verdict
        assert m.decide(src, dst, proto, port).verdict == allow_first


@PROPS
@given(policies())
def test_rows_are_maximally_merged(policy: Policy) -> None:
    m = expand(policy.firewall, policy.segments)
    for src, dst in pairs_of(policy.segments):
        for proto in (Protocol.TCP, Protocol.UDP):
            rows = m.rows_for(src, dst, proto)
            for a, b in pairwise(rows):
                assert a.decision != b.decision, (a, b)


@PROPS
@given(policies())
def test_allowed_ports_agree_with_rows(policy: Policy) -> None:
    m = expand(policy.firewall, policy.segments)
    for src, dst in pairs_of(policy.segments):
        for proto in (Protocol.TCP, Protocol.UDP):
            allowed = m.allowed_ports(src, dst, proto)
            for port in boundary_ports(policy.firewall):
                assert (port in allowed) == (m.decide(src, dst, proto, port).verdict == "allow")


def _both_match(
    policy: Policy, allow: FlowStatement, deny: FlowStatement
) -> list[tuple[str, str, Protocol, int | None]]:
    ports = boundary_ports(policy.firewall)
    out: list[tuple[str, str, Protocol, int | None]] = []
    for src, dst in pairs_of(policy.segments):
        for proto in PROTOCOLS:
            for port in ports if proto in PORTED else [None]:
                if matches(allow, policy.segments, src, dst, proto, port) and matches(
                    deny, policy.segments, src, dst, proto, port
                ):
                    out.append((src, dst, proto, port))
    return out


_EXAMPLE = re.compile(r"^(?P<src>[a-z]+)->(?P<dst>[a-z]+):(?P<proto>tcp|udp|icmp)(?:/(?P<port>\d+))?$")


@PROPS
@given(policies())
def test_contradictions_are_exactly_the_overlapping_pairs(policy: Policy) -> None:
    fw = policy.firewall
    found = contradictions(fw, policy.segments)
    overlapping = {
        (ai, di)
        for di, deny in enumerate(fw.deny)
        for ai, allow in enumerate(fw.allow)
        if _both_match(policy, allow, deny)
    }
    assert {(c.allow_index, c.deny_index) for c in found} == overlapping
    assert len(found) == len(overlapping)  # one report per pair
    assert (found == []) == (not overlapping)
    for c in found:
        ex = _EXAMPLE.match(c.example)
        assert ex, c.example
        proto = Protocol(ex["proto"])
        port = int(ex["port"]) if ex["port"] else None
        assert (port is None) == (proto not in PORTED)
        flow = (ex["src"], ex["dst"], proto, port)
        assert flow[0] != flow[1]
        assert matches(fw.allow[c.allow_index], policy.segments, *flow)
        assert matches(fw.deny[c.deny_index], policy.segments, *flow)


@PROPS
@given(policies())
def test_statement_ports_and_refs(policy: Policy) -> None:
    for stmt in (*policy.firewall.allow, *policy.firewall.deny):
        ports = statement_ports(stmt)
        if not stmt.ports:
            assert ports == IntervalSet.full()
        for spec in stmt.ports:
            r = parse_port_spec(spec)
            assert r.lo in ports and r.hi in ports
        for refs_ in (stmt.from_, stmt.to):
            resolved = resolve_refs(refs_, policy.segments)
            assert set(resolved) == (set(policy.segments) if "*" in refs_ else set(refs_))


# -------------------------------------------------------------------------------------- the real site
@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE_FILE)


@pytest.fixture(scope="module")
def matrix(site: Site) -> FlowMatrix:
    return expand(site.firewall, list(site.segments))


def test_real_site_has_no_contradictions(site: Site) -> None:
    assert contradictions(site.firewall, list(site.segments)) == []


def test_home_to_cluster_web_only(matrix: FlowMatrix) -> None:
    allowed = matrix.allowed_ports("home", "cluster", "tcp")
    assert allowed == IntervalSet([PortRange(80, 80), PortRange(443, 443)])
    assert allowed.size == 2
    for port in (80, 443):
        d = matrix.decide("home", "cluster", "tcp", port)
        assert (d.verdict, d.control, d.statement) == ("allow", "FW-HOME-WEB", "firewall.allow[1]")
    assert matrix.allowed_ports("home", "cluster", "udp") == IntervalSet()


@pytest.mark.parametrize("port", [1, 22, 79, 81, 442, 444, 6443, 65535])
def test_home_to_cluster_other_ports_hit_default_deny(matrix: FlowMatrix, port: int) -> None:
    d = matrix.decide("home", "cluster", "tcp", port)
    assert (d.verdict, d.control, d.statement) == ("deny", "FW-DEFAULT-DENY", "firewall.default")
    assert d.section == "Layer 1 / Firewall Strategy"


def test_nothing_reaches_management(matrix: FlowMatrix, site: Site) -> None:
    for src in site.segments:
        if src == "management":
            continue
        for proto in PROTOCOLS:
            rows = matrix.rows_for(src, "management", proto)
            assert len(rows) == 1, (src, proto)
            assert rows[0].decision.verdict == "deny"
            assert rows[0].decision.control == "FW-MGMT-NO-INBOUND"
        assert matrix.allowed_ports(src, "management", "tcp") == IntervalSet()


def test_management_reaches_internet(matrix: FlowMatrix) -> None:
    for proto in PROTOCOLS:
        rows = matrix.rows_for("management", "internet", proto)
        assert len(rows) == 1
        assert rows[0].decision.verdict == "allow"
        assert rows[0].decision.control == "FW-MGMT-ALL"
    assert matrix.allowed_ports("management", "internet", "tcp") == IntervalSet.full()


def test_wireguard_reaches_pod_dns(matrix: FlowMatrix) -> None:
    d = matrix.decide("wireguard", "pods", "udp", 53)
    assert (d.verdict, d.control) == ("allow", "FW-WG-CLUSTER")
    assert matrix.decide("wireguard", "home", "udp", 53).control == "FW-WG-NO-HOME"


def test_internet_reaches_nothing(matrix: FlowMatrix, site: Site) -> None:
    for dst in site.segments:
        if dst != "internet":
            assert matrix.decide("internet", dst, "tcp", 443).verdict == "deny"


def test_flow_ids(matrix: FlowMatrix) -> None:
    ids = [r.flow_id for r in matrix.rows_for("home", "cluster", Protocol.TCP)]
    assert ids == [
        "home->cluster:tcp/1-79",
        "home->cluster:tcp/80",
        "home->cluster:tcp/81-442",
        "home->cluster:tcp/443",
        "home->cluster:tcp/444-65535",
    ]
    assert [r.flow_id for r in matrix.rows_for("home", "cluster", Protocol.ICMP)] == ["home->cluster:icmp"]
    assert len({r.flow_id for r in matrix.rows}) == len(matrix.rows)


def test_decide_rejects_bad_queries(matrix: FlowMatrix) -> None:
    with pytest.raises(ValueError, match="need a port"):
        matrix.decide("home", "cluster", "tcp")
    with pytest.raises(ValueError, match="outside"):
        matrix.decide("home", "cluster", "tcp", 0)
    with pytest.raises(ValueError, match="outside"):
        matrix.decide("home", "cluster", "udp", 65536)
    with pytest.raises(KeyError):
        matrix.decide("home", "nowhere", "tcp", 80)
    with pytest.raises(ValueError):
        matrix.decide("home", "cluster", "sctp", 80)
