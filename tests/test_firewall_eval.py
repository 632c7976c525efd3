"""The RouterOS firewall filter evaluator (firewall_eval.py) and its interval sets (intervals.py), pure.

Every expected verdict and rule number below is worked out by hand from RouterOS semantics
(routeros-notes.md §2.2), never produced by the evaluator.  The property tests compare the evaluator
against Python sets (for :class:`Ints`) and against a naive one-packet interpreter written here.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, ip_network
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_zengarden.analysis.firewall_eval import (
    Box,
    Context,
    Firewall,
    FirewallError,
    Outcome,
    Region,
    RuleRef,
    parse_addresses,
    protocol_name,
)
from pytest_zengarden.analysis.intervals import ADDRESSES, EMPTY, PORTS, PROTOCOL_NUMBERS, Ints
from pytest_zengarden.facts.router import RouterConfig
from pytest_zengarden.offline.rsc import parse_rsc

RSC = Path(__file__).resolve().parent.parent / "fixtures" / "recorded" / "router.rsc"
HOME_IF, CLUSTER_IF, MGMT_IF, WAN_IF = "bridge-home", "bridge-homelab", "ether5", "ether1"
FWD = Context("forward", HOME_IF, CLUSTER_IF)


def ip(text: str) -> int:
    return int(IPv4Address(text))


def firewall(
    *rules: Mapping[str, object],
    addresses: Iterable[Mapping[str, object]] = (),
    lists: Iterable[Mapping[str, object]] = (),
    members: Iterable[Mapping[str, object]] = (),
) -> Firewall:
    return Firewall(
        RouterConfig.from_records(
            {
                "/ip/firewall/filter": rules,
                "/ip/firewall/address-list": addresses,
                "/interface/list": lists,
                "/interface/list/member": members,
            },
            "test.rsc",
        )
    )


def pkt(
    src: str = "192.168.88.10",
    dst: str = "192.168.77.10",
    proto: str | int = "tcp",
    sport: int = 40000,
    dport: int = 22,
) -> Box:
    return Box.packet(src, dst, proto, sport, dport)


def verdict(fw: Firewall, packet: Box, ctx: Context = FWD) -> tuple[str, int | None]:
    """(verdict, deciding rule number or None) for one packet."""
    out = fw.decide(ctx, packet)
    return out.verdict, None if out.rule is None else out.rule.number


def box_size(box: Box) -> int:
    size = 1
    for dim in box.dims():
        size *= dim.size
    return size


# =================================================================================================== Ints
def test_ints_construction_sorts_merges_overlapping_and_adjacent_ranges() -> None:
    assert Ints([(10, 12), (5, 7), (1, 3), (4, 4), (6, 9)]).ranges == ((1, 12),)
    assert Ints([(20, 30), (1, 3), (5, 5)]).ranges == ((1, 3), (5, 5), (20, 30))
    assert Ints([(1, 10), (2, 3)]).ranges == ((1, 10),)  # a contained range does not shrink the first
    assert Ints().ranges == ()
    assert not Ints() and Ints() == EMPTY


def test_ints_rejects_backwards_range() -> None:
    with pytest.raises(ValueError, match="empty range 5-4"):
        Ints([(5, 4)])


def test_ints_span_point_first_contains() -> None:
    s = Ints.span(3, 9)
    assert s.ranges == ((3, 9),) and s.first() == 3 and s.size == 7
    assert Ints.point(7).ranges == ((7, 7),)
    m = Ints([(0, 2), (10, 12)])
    assert 0 in m and 2 in m and 10 in m and 12 in m
    assert 3 not in m and 9 not in m and 13 not in m
    assert "1" not in m  # only integers are members
    with pytest.raises(ValueError, match="empty set"):
        EMPTY.first()


def test_ints_size_of_multi_range_and_universes() -> None:
    assert Ints([(0, 9), (20, 20), (30, 39)]).size == 10 + 1 + 10
    assert ADDRESSES.size == 2**32
    assert PROTOCOL_NUMBERS.size == 256
    assert PORTS.size == 65536
    assert EMPTY.size == 0


def test_ints_intersection_single_and_multi_range() -> None:
    assert Ints.span(0, 10) & Ints.span(5, 20) == Ints.span(5, 10)
    assert Ints.span(0, 10) & Ints.span(11, 20) == EMPTY
    assert Ints.span(0, 10) & Ints.span(10, 20) == Ints.point(10)
    a = Ints([(0, 10), (20, 30), (40, 50)])
    assert (a & Ints.span(5, 45)).ranges == ((5, 10), (20, 30), (40, 45))
    assert (a & Ints([(8, 22), (29, 41)])).ranges == ((8, 10), (20, 22), (29, 30), (40, 41))
    assert a & Ints([(11, 19), (31, 39)]) == EMPTY
    assert a & EMPTY == EMPTY and EMPTY & a == EMPTY


def test_ints_union_merges_across_operands() -> None:
    assert (Ints.span(0, 3) | Ints([(4, 6), (10, 10)])).ranges == ((0, 6), (10, 10))
    assert (Ints([(0, 1), (8, 9)]) | Ints.span(2, 7)).ranges == ((0, 9),)
    assert (Ints.span(5, 5) | EMPTY).ranges == ((5, 5),)


def test_ints_difference_punches_holes_and_trims_ends() -> None:
    assert (Ints.span(0, 100) - Ints([(10, 20), (30, 40)])).ranges == ((0, 9), (21, 29), (41, 100))
    assert (Ints.span(0, 100) - Ints([(0, 10), (90, 100)])).ranges == ((11, 89),)
    assert (Ints([(0, 10), (20, 30)]) - Ints.span(5, 25)).ranges == ((0, 4), (26, 30))
    assert Ints.span(3, 4) - Ints.span(0, 10) == EMPTY
    assert Ints.span(3, 4) - EMPTY == Ints.span(3, 4)
    assert EMPTY - Ints.span(3, 4) == EMPTY


def test_ints_complement_is_relative_to_the_universe() -> None:
    assert Ints([(3, 5), (9, 9)]).complement(Ints.span(0, 10)).ranges == ((0, 2), (6, 8), (10, 10))
    assert EMPTY.complement(PORTS) == PORTS
    assert PORTS.complement(PORTS) == EMPTY
    assert Ints.point(6).complement(PROTOCOL_NUMBERS).ranges == ((0, 5), (7, 255))


def test_ints_issubset() -> None:
    big = Ints([(0, 10), (20, 30)])
    assert Ints([(1, 2), (25, 30)]).issubset(big)
    assert not Ints([(1, 2), (15, 15)]).issubset(big)
    assert not Ints.span(9, 21).issubset(big)
    assert EMPTY.issubset(EMPTY) and EMPTY.issubset(big)
    assert big.issubset(big)


def test_ints_equality_hash_and_repr() -> None:
    assert Ints([(1, 3), (5, 5)]) == Ints([(5, 5), (1, 2), (3, 3)])
    assert hash(Ints([(1, 3)])) == hash(Ints.span(1, 3))
    assert Ints([(1, 3)]) != (1, 3)
    assert repr(Ints([(1, 3), (5, 5)])) == "Ints(1-3, 5)"
    assert repr(EMPTY) == "Ints(empty)"
    assert list(Ints([(1, 3), (5, 5)])) == [(1, 3), (5, 5)]


def test_ints_describe_addresses() -> None:
    s = Ints([(ip("192.168.88.5"), ip("192.168.88.5")), (ip("192.168.88.8"), ip("192.168.88.11"))])
    assert s.describe_addresses() == "192.168.88.5, 192.168.88.8-192.168.88.11"
    many = Ints([(ip(f"10.0.0.{i}"), ip(f"10.0.0.{i}")) for i in range(0, 12, 2)])  # 6 separate points
    assert many.describe_addresses(limit=2) == "10.0.0.0, 10.0.0.2, ... (4 more)"


def test_ints_describe_ports() -> None:
    assert Ints([(22, 22), (80, 90)]).describe_ports() == "22,80-90"
    assert Ints([(p, p) for p in (1, 3, 5, 7, 9, 11, 13, 15)]).describe_ports() == "1,3,5,7,9,11,... (2 more)"
    assert PORTS.describe_ports() == "0-65535"


_RANGES = st.lists(st.tuples(st.integers(0, 63), st.integers(0, 63)).map(lambda t: (min(t), max(t))), max_size=6)


def _as_set(ranges: Iterable[tuple[int, int]]) -> set[int]:
    return {v for lo, hi in ranges for v in range(lo, hi + 1)}


def _canonical(s: Ints) -> bool:
    """Sorted, each range non-empty, and separated from the next by at least one missing value."""
    return all(lo <= hi for lo, hi in s.ranges) and all(a[1] + 1 < b[0] for a, b in pairwise(s.ranges))


@given(_RANGES, _RANGES)
def test_ints_algebra_agrees_with_python_sets(ra: list[tuple[int, int]], rb: list[tuple[int, int]]) -> None:
    universe = Ints.span(0, 63)
    a, b = Ints(ra), Ints(rb)
    sa, sb, su = _as_set(ra), _as_set(rb), set(range(64))
    for result, expected in (
        (a, sa),
        (a & b, sa & sb),
        (a | b, sa | sb),
        (a - b, sa - sb),
        (a.complement(universe), su - sa),
    ):
        assert _canonical(result)
        assert _as_set(result.ranges) == expected
        assert result.size == len(expected)
        assert bool(result) == bool(expected)
    assert a.issubset(b) == (sa <= sb)
    assert all((v in a) == (v in sa) for v in range(-1, 65))
    # Normalized construction is canonical, so equality is set equality.
    assert (a == b) == (sa == sb)


# ============================================================================================ Box, parse
def test_box_packet_is_one_point() -> None:
    b = Box.packet("10.0.0.1", "10.0.0.2", "udp", 5353, 53)
    assert b.dims() == (
        Ints.point(ip("10.0.0.1")),
        Ints.point(ip("10.0.0.2")),
        Ints.point(17),
        Ints.point(5353),
        Ints.point(53),
    )
    assert box_size(b) == 1
    assert Box.packet("10.0.0.1", "10.0.0.2", 47).proto == Ints.point(47)  # GRE by number, ports 0
    assert Box.packet("10.0.0.1", "10.0.0.2", "icmp").dport == Ints.point(0)


def test_box_default_is_every_header_and_empty_detects_any_empty_dimension() -> None:
    assert box_size(Box()) == 2**32 * 2**32 * 256 * 65536 * 65536
    assert not Box().empty()
    assert Box(dport=EMPTY).empty()


def test_box_intersection_and_minus() -> None:
    a = Box(Ints.span(0, 9), Ints.span(0, 9), Ints.span(0, 9), Ints.span(0, 9), Ints.span(0, 9))
    b = Box(Ints.span(5, 14), Ints.span(0, 9), Ints.span(0, 9), Ints.span(0, 9), Ints.span(3, 3))
    both = a & b
    assert both is not None and both.src == Ints.span(5, 9) and both.dport == Ints.point(3)
    assert (a & Box(src=Ints.span(20, 30))) is None
    pieces = a.minus(b)
    # hand count: a has 10^5 points, a & b has 5 * 10^3 * 1
    assert sum(box_size(p) for p in pieces) == 10**5 - 5 * 10**3
    assert all((p & b) is None for p in pieces)
    assert all((p & q) is None for p, q in combinations(pieces, 2))
    assert a.minus(Box(src=Ints.span(20, 30))) == [a]
    assert a.minus(Box()) == []


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("10.0.0.5", "10.0.0.5", "10.0.0.5"),
        ("10.0.0.0/24", "10.0.0.0", "10.0.0.255"),
        ("10.0.0.77/24", "10.0.0.0", "10.0.0.255"),  # host bits ignored, as RouterOS does
        ("192.168.88.200/30", "192.168.88.200", "192.168.88.203"),
        ("10.0.0.1-10.0.0.9", "10.0.0.1", "10.0.0.9"),
        (" 10.0.0.1 - 10.0.0.9 ", "10.0.0.1", "10.0.0.9"),
        ("0.0.0.0/0", "0.0.0.0", "255.255.255.255"),
    ],
)
def test_parse_addresses(text: str, lo: str, hi: str) -> None:
    assert parse_addresses(text) == Ints.span(ip(lo), ip(hi))


@pytest.mark.parametrize(
    "text", ["10.0.0.9-10.0.0.1", "router.example.com", "my-host.lan", "fe80::1", "10.0.0.0/33", ""]
)
def test_parse_addresses_rejects_non_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_addresses(text)


def test_protocol_name() -> None:
    assert protocol_name(6) == "tcp" and protocol_name(17) == "udp" and protocol_name(1) == "icmp"
    assert protocol_name(4) == "ip-encap"  # the first spelling wins for aliases
    assert protocol_name(250) == "250"


def test_context_validates_state_and_nat() -> None:
    with pytest.raises(ValueError, match="connection state"):
        Context("forward", state="bogus")
    with pytest.raises(ValueError, match="NAT state"):
        Context("forward", nat=frozenset({"masquerade"}))


# ============================================================================== order, numbers, defaults
def test_first_matching_rule_wins() -> None:
    fw = firewall(
        {"chain": "forward", "action": "drop", "src-address": "192.168.88.0/24"},
        {"chain": "forward", "action": "accept"},
    )
    assert verdict(fw, pkt()) == ("drop", 0)
    assert verdict(fw, pkt(src="192.168.100.5")) == ("accept", 1)


def test_disabled_rules_are_skipped_but_keep_their_print_number() -> None:
    fw = firewall(
        {"chain": "forward", "action": "drop", "disabled": "yes"},  # 0
        {"chain": "forward", "action": "drop", "disabled": "true"},  # 1
        {"chain": "forward", "action": "accept", "protocol": "tcp", "disabled": "no"},  # 2
        {"chain": "forward", "action": "drop", "disabled": "false"},  # 3
    )
    assert verdict(fw, pkt(proto="tcp")) == ("accept", 2)
    assert verdict(fw, pkt(proto="udp")) == ("drop", 3)


def test_invalid_rules_are_skipped() -> None:
    fw = firewall({"chain": "forward", "action": "drop", "invalid": "true"}, {"chain": "forward", "action": "reject"})
    assert verdict(fw, pkt()) == ("reject", 1)


def test_rule_numbers_count_the_whole_filter_menu_across_chains() -> None:
    fw = firewall(
        {"chain": "input", "action": "accept", "protocol": "icmp"},  # 0
        {"chain": "input", "action": "drop"},  # 1
        {"chain": "forward", "action": "drop", "protocol": "udp", "disabled": "yes"},  # 2
        {"chain": "output", "action": "accept"},  # 3
        {"chain": "forward", "action": "accept", "protocol": "tcp", ".id": "*1F"},  # 4
        {"chain": "forward", "action": "drop", "comment": "the end"},  # 5
    )
    out = fw.decide(FWD, pkt())
    assert out.rule == RuleRef(4, "*1F", "forward", "accept", "")
    assert str(out.rule) == "rule #4 (chain=forward action=accept)"
    assert out.describe() == "rule #4 (chain=forward action=accept)"
    drop = fw.decide(FWD, pkt(proto="udp"))
    assert drop.rule is not None and drop.rule.number == 5 and drop.rule.id == "#5"  # no .id: the print number
    assert str(drop.rule) == 'rule #5 "the end"'
    assert verdict(fw, pkt(proto="udp"), Context("input", HOME_IF)) == ("drop", 1)
    assert verdict(fw, pkt(proto="icmp", sport=0, dport=0), Context("input", HOME_IF)) == ("accept", 0)
    assert verdict(fw, pkt(), Context("output", out_interface=HOME_IF)) == ("accept", 3)


def test_no_match_in_builtin_chain_accepts_without_a_rule() -> None:
    fw = firewall({"chain": "forward", "action": "drop", "protocol": "udp"}, {"chain": "input", "action": "drop"})
    out = fw.decide(FWD, pkt(proto="tcp"))
    assert out == Outcome("accept", None, (), "forward")
    assert out.accepts
    assert out.describe() == "no rule matches; chain forward accepts by default"
    empty = firewall()
    assert empty.decide(Context("input", HOME_IF), pkt()) == Outcome("accept", None, (), "input")


@pytest.mark.parametrize("action", ["drop", "reject", "tarpit"])
def test_refusing_actions_are_terminal_and_do_not_accept(action: str) -> None:
    fw = firewall({"chain": "forward", "action": action}, {"chain": "forward", "action": "accept"})
    out = fw.decide(FWD, pkt())
    assert out.verdict == action and not out.accepts and out.rule is not None and out.rule.number == 0


def test_missing_action_means_accept() -> None:
    fw = firewall({"chain": "forward"}, {"chain": "forward", "action": "drop"})
    assert verdict(fw, pkt()) == ("accept", 0)


def test_evaluate_only_enters_builtin_chains_and_decide_needs_one_packet() -> None:
    fw = firewall({"chain": "sub", "action": "drop"})
    with pytest.raises(ValueError, match="built-in"):
        fw.evaluate(Context("sub"), pkt())
    with pytest.raises(ValueError, match="exactly one packet"):
        firewall({"chain": "forward", "action": "drop", "protocol": "tcp"}).decide(FWD, Box(proto=Ints.span(6, 17)))
    assert fw.evaluate(FWD, Box(dport=EMPTY)) == []


def test_evaluate_partitions_a_box_by_deciding_rule() -> None:
    fw = firewall(
        {"chain": "forward", "action": "accept", "protocol": "tcp", "dst-port": "80,443"},  # 0
        {"chain": "forward", "action": "drop", "protocol": "tcp"},  # 1
    )
    query = Box(Ints.point(ip("192.168.88.10")), Ints.point(ip("192.168.77.10")), Ints.span(6, 17), PORTS, PORTS)
    regions = fw.evaluate(FWD, query)
    by_rule: dict[int | None, Ints] = {}
    for r in regions:
        key = None if r.outcome.rule is None else r.outcome.rule.number
        by_rule[key] = by_rule.get(key, EMPTY) | r.box.dport
    assert by_rule[0] == Ints([(80, 80), (443, 443)])
    assert by_rule[1] == Ints([(0, 79), (81, 442), (444, 65535)])  # what rule 0 left over
    # protocols 7..17 (incl. udp) are decided by no rule: the default accept
    assert Ints([p for r in regions if r.outcome.rule is None for p in r.box.proto.ranges]) == Ints.span(7, 17)
    by_zero = [r for r in regions if r.outcome.rule is not None and r.outcome.rule.number == 0]
    assert Ints([p for r in by_zero for p in r.box.dport.ranges]) == Ints([(80, 80), (443, 443)])
    assert {r.outcome.rule.number if r.outcome.rule else None for r in regions if r.outcome.accepts} == {0, None}
    assert {r.outcome.rule.number for r in regions if not r.outcome.accepts and r.outcome.rule} == {1}


# =========================================================================================== negation
@pytest.mark.parametrize(
    ("rule", "packet", "dropped"),
    [
        ({"src-address": "!192.168.88.0/24"}, pkt(src="192.168.88.10"), False),
        ({"src-address": "!192.168.88.0/24"}, pkt(src="192.168.77.99"), True),
        ({"dst-address": "!192.168.77.0/24"}, pkt(dst="192.168.77.10"), False),
        ({"dst-address": "!192.168.77.0/24"}, pkt(dst="10.42.0.1"), True),
        ({"protocol": "!tcp"}, pkt(proto="tcp"), False),
        ({"protocol": "!tcp"}, pkt(proto="udp"), True),
        ({"protocol": "!tcp"}, pkt(proto="icmp", sport=0, dport=0), True),
        ({"protocol": "17"}, pkt(proto="udp"), True),
        ({"protocol": "UDP"}, pkt(proto="udp"), True),
        ({"protocol": "!17"}, pkt(proto="udp"), False),
        ({"protocol": "tcp", "dst-port": "!22"}, pkt(dport=22), False),
        ({"protocol": "tcp", "dst-port": "!22"}, pkt(dport=23), True),
        ({"protocol": "tcp", "dst-port": "!22"}, pkt(proto="udp", dport=23), False),
        ({"in-interface": "!bridge-home"}, pkt(), False),
        ({"out-interface": "!bridge-homelab"}, pkt(), False),
        ({"out-interface": "!ether1"}, pkt(), True),
        ({"in-interface": "bridge-home", "out-interface": "bridge-homelab"}, pkt(), True),
        ({"in-interface": "ether5"}, pkt(), False),
        # address ranges and CIDRs with host bits
        ({"src-address": "192.168.88.10-192.168.88.20"}, pkt(src="192.168.88.9"), False),
        ({"src-address": "192.168.88.10-192.168.88.20"}, pkt(src="192.168.88.10"), True),
        ({"src-address": "192.168.88.10-192.168.88.20"}, pkt(src="192.168.88.20"), True),
        ({"src-address": "192.168.88.10-192.168.88.20"}, pkt(src="192.168.88.21"), False),
        ({"src-address": "!192.168.88.10-192.168.88.20"}, pkt(src="192.168.88.21"), True),
        ({"dst-address": "192.168.77.99/24"}, pkt(dst="192.168.77.1"), True),
        ({"dst-address": "192.168.77.99/24"}, pkt(dst="192.168.78.1"), False),
        ({"dst-address": "192.168.77.10/32"}, pkt(dst="192.168.77.10"), True),
        ({"dst-address": "192.168.77.10"}, pkt(dst="192.168.77.11"), False),
    ],
)
def test_matchers_and_their_negation(rule: dict[str, str], packet: Box, dropped: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", **rule})
    assert verdict(fw, packet) == (("drop", 0) if dropped else ("accept", None))


def test_negated_interface_list_and_address_list() -> None:
    fw = firewall(
        {"chain": "forward", "action": "drop", "in-interface-list": "!LAN"},  # 0
        {"chain": "forward", "action": "drop", "dst-address-list": "!vpn-allowed"},  # 1
        {"chain": "forward", "action": "accept"},  # 2
        addresses=[{"list": "vpn-allowed", "address": "192.168.77.0/24"}],
        lists=[{"name": "LAN"}],
        members=[{"list": "LAN", "interface": HOME_IF}],
    )
    assert verdict(fw, pkt()) == ("accept", 2)
    assert verdict(fw, pkt(), Context("forward", WAN_IF, CLUSTER_IF)) == ("drop", 0)
    assert verdict(fw, pkt(dst="192.168.88.20")) == ("drop", 1)


# ========================================================================================== ports
@pytest.mark.parametrize(
    ("rule", "sport", "dport", "matched"),
    [
        ({"dst-port": "22,80,443"}, 40000, 80, True),
        ({"dst-port": "22,80,443"}, 40000, 81, False),
        ({"dst-port": "22, 80"}, 40000, 80, True),
        ({"dst-port": "1000-2000"}, 40000, 999, False),
        ({"dst-port": "1000-2000"}, 40000, 1000, True),
        ({"dst-port": "1000-2000"}, 40000, 2000, True),
        ({"dst-port": "1000-2000"}, 40000, 2001, False),
        ({"dst-port": "22,1000-2000"}, 40000, 1500, True),
        ({"src-port": "53"}, 53, 40000, True),
        ({"src-port": "53"}, 54, 53, False),
        ({"src-port": "!53"}, 53, 40000, False),
        ({"src-port": "!53"}, 54, 53, True),
        ({"port": "53"}, 53, 40000, True),  # either port
        ({"port": "53"}, 40000, 53, True),
        ({"port": "53"}, 53, 53, True),
        ({"port": "53"}, 40000, 40000, False),
        ({"port": "!53"}, 53, 40000, False),  # negated: neither port
        ({"port": "!53"}, 40000, 53, False),
        ({"port": "!53"}, 40000, 40000, True),
        ({"src-port": "1024-65535", "dst-port": "53"}, 5353, 53, True),
        ({"src-port": "1024-65535", "dst-port": "53"}, 53, 53, False),
    ],
)
def test_port_matchers(rule: dict[str, str], sport: int, dport: int, matched: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", "protocol": "udp", **rule})
    assert verdict(fw, pkt(proto="udp", sport=sport, dport=dport)) == (("drop", 0) if matched else ("accept", None))


@pytest.mark.parametrize(
    ("proto", "matched"), [("tcp", True), ("udp", True), ("sctp", True), ("dccp", True), ("icmp", False), (47, False)]
)
def test_ports_without_protocol_apply_only_to_port_protocols(proto: str | int, matched: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", "dst-port": "0-65535"})
    assert verdict(fw, pkt(proto=proto, sport=0, dport=22)) == (("drop", 0) if matched else ("accept", None))


def test_negated_protocol_with_ports_keeps_the_other_port_protocols() -> None:
    fw = firewall({"chain": "forward", "action": "drop", "protocol": "!tcp", "dst-port": "53"})
    assert verdict(fw, pkt(proto="udp", dport=53)) == ("drop", 0)
    assert verdict(fw, pkt(proto="tcp", dport=53)) == ("accept", None)
    assert verdict(fw, pkt(proto="icmp", sport=0, dport=53)) == ("accept", None)


@pytest.mark.parametrize("prop", ["dst-port", "src-port", "port"])
def test_port_matcher_with_icmp_raises_naming_the_rule(prop: str) -> None:
    with pytest.raises(FirewallError, match=rf'test\.rsc: filter rule #1 "ping": {prop} need a protocol with ports'):
        firewall(
            {"chain": "forward", "action": "accept"},
            {"chain": "forward", "action": "drop", "protocol": "icmp", prop: "22", "comment": "ping"},
        )


@pytest.mark.parametrize("ports", ["abc", "70000", "20-10", "22,", "-5"])
def test_bad_port_lists_raise(ports: str) -> None:
    if ports == "22,":  # a trailing comma is just an empty item: the list is 22
        fw = firewall({"chain": "forward", "action": "drop", "protocol": "tcp", "dst-port": ports})
        assert verdict(fw, pkt(dport=22)) == ("drop", 0)
        return
    with pytest.raises(FirewallError, match=r"rule #0 \(chain=forward action=drop\)"):
        firewall({"chain": "forward", "action": "drop", "protocol": "tcp", "dst-port": ports})


# ====================================================================================== jump & friends
WEB_CHAIN = [
    {"chain": "forward", "action": "jump", "jump-target": "web", "protocol": "tcp"},  # 0
    {"chain": "forward", "action": "drop", "comment": "forward end"},  # 1
    {"chain": "web", "action": "log", "log-prefix": "web"},  # 2
    {"chain": "web", "action": "accept", "protocol": "tcp", "dst-port": "80"},  # 3
    {"chain": "web", "action": "passthrough"},  # 4
    {"chain": "web", "action": "return", "protocol": "tcp", "dst-port": "443"},  # 5
    {"chain": "web", "action": "reject", "protocol": "tcp", "dst-port": "8000-8999"},  # 6
]


@pytest.mark.parametrize(
    ("packet", "expected", "via", "chain"),
    [
        (pkt(dport=80), ("accept", 3), (0,), "web"),
        (pkt(dport=443), ("drop", 1), (), "forward"),  # return: continues after the jump
        (pkt(dport=8080), ("reject", 6), (0,), "web"),
        (pkt(dport=22), ("drop", 1), (), "forward"),  # falls off the end of web: continues after the jump
        (pkt(proto="udp", dport=80), ("drop", 1), (), "forward"),  # never jumps
    ],
)
def test_jump_return_and_non_terminal_actions(
    packet: Box, expected: tuple[str, int], via: tuple[int, ...], chain: str
) -> None:
    out = firewall(*WEB_CHAIN).decide(FWD, packet)
    assert out.rule is not None
    assert (out.verdict, out.rule.number) == expected
    assert tuple(j.number for j in out.via) == via
    assert out.chain == chain


def test_nested_jumps_are_listed_in_via_and_described() -> None:
    fw = firewall(
        {"chain": "forward", "action": "jump", "jump-target": "a", "comment": "to a"},  # 0
        {"chain": "a", "action": "jump", "jump-target": "b"},  # 1
        {"chain": "a", "action": "accept", "protocol": "tcp", "dst-port": "22"},  # 2
        {"chain": "b", "action": "return", "protocol": "tcp", "dst-port": "22"},  # 3
        {"chain": "b", "action": "drop", "protocol": "tcp", "dst-port": "23"},  # 4
        {"chain": "forward", "action": "accept", "comment": "after"},  # 5
    )
    out = fw.decide(FWD, pkt(dport=23))
    assert out.rule is not None and out.rule.number == 4 and out.verdict == "drop"
    assert [j.number for j in out.via] == [0, 1]
    assert [j.action for j in out.via] == ["jump", "jump"]
    assert out.describe() == (
        'rule #4 (chain=b action=drop) via jump rule #0 "to a", jump rule #1 (chain=a action=jump)'
    )
    returned = fw.decide(FWD, pkt(dport=22))  # b returns to a, a accepts
    assert returned.rule is not None and returned.rule.number == 2 and [j.number for j in returned.via] == [0]
    fell = fw.decide(FWD, pkt(dport=24))  # b and a both end: back in forward
    assert fell.rule is not None and fell.rule.number == 5 and fell.via == ()


@pytest.mark.parametrize(
    "action", ["fasttrack-connection", "passthrough", "log", "add-src-to-address-list", "add-dst-to-address-list"]
)
def test_non_terminal_actions_continue(action: str) -> None:
    fw = firewall(
        {"chain": "forward", "action": action, "connection-state": "established,related", "address-list": "x"},
        {"chain": "forward", "action": "accept", "connection-state": "established,related"},
        {"chain": "forward", "action": "drop"},
    )
    assert verdict(fw, pkt(), Context("forward", HOME_IF, CLUSTER_IF, "established")) == ("accept", 1)
    assert verdict(fw, pkt(), FWD) == ("drop", 2)


@pytest.mark.parametrize(
    "rules",
    [
        [
            {"chain": "forward", "action": "jump", "jump-target": "a"},
            {"chain": "a", "action": "jump", "jump-target": "a"},
        ],
        [
            {"chain": "forward", "action": "jump", "jump-target": "a"},
            {"chain": "a", "action": "jump", "jump-target": "b"},
            {"chain": "b", "action": "jump", "jump-target": "a", "protocol": "udp"},
        ],
        # a loop is an error even in chains no packet reaches
        [{"chain": "x", "action": "jump", "jump-target": "y"}, {"chain": "y", "action": "jump", "jump-target": "x"}],
    ],
)
def test_jump_loop_raises(rules: list[dict[str, str]]) -> None:
    with pytest.raises(FirewallError, match="jump in a loop"):
        firewall(*rules)


def test_disabled_jump_does_not_make_a_loop() -> None:
    fw = firewall(
        {"chain": "forward", "action": "jump", "jump-target": "a"},
        {"chain": "a", "action": "jump", "jump-target": "a", "disabled": "yes"},
        {"chain": "a", "action": "drop"},
    )
    assert verdict(fw, pkt()) == ("drop", 2)


@pytest.mark.parametrize("target", ["input", "forward", "output"])
def test_jump_to_builtin_chain_raises(target: str) -> None:
    with pytest.raises(FirewallError, match=rf"rule #0 .*cannot jump to built-in chain '{target}'"):
        firewall({"chain": "forward", "action": "jump", "jump-target": target})


def test_jump_without_target_raises() -> None:
    with pytest.raises(FirewallError, match="needs jump-target"):
        firewall({"chain": "forward", "action": "jump"})


# ============================================================================== connection & NAT state
@pytest.mark.parametrize(
    ("state", "expected"),
    [("new", ("drop", 2)), ("established", ("accept", 0)), ("related", ("accept", 0)), ("invalid", ("drop", 1)),
     ("untracked", ("drop", 2))],
)  # fmt: skip
def test_connection_state(state: str, expected: tuple[str, int]) -> None:
    fw = firewall(
        {"chain": "forward", "action": "accept", "connection-state": "established,related"},
        {"chain": "forward", "action": "drop", "connection-state": "invalid"},
        {"chain": "forward", "action": "drop"},
    )
    assert verdict(fw, pkt(), Context("forward", HOME_IF, CLUSTER_IF, state)) == expected


def test_negated_connection_state() -> None:
    fw = firewall({"chain": "forward", "action": "drop", "connection-state": "!new"})
    assert verdict(fw, pkt(), Context("forward", HOME_IF, CLUSTER_IF, "new")) == ("accept", None)
    assert verdict(fw, pkt(), Context("forward", HOME_IF, CLUSTER_IF, "established")) == ("drop", 0)


@pytest.mark.parametrize(
    ("matcher", "nat", "dropped"),
    [
        ("!dstnat", frozenset(), True),
        ("!dstnat", frozenset({"srcnat"}), True),
        ("!dstnat", frozenset({"dstnat"}), False),
        ("!dstnat", frozenset({"srcnat", "dstnat"}), False),
        ("dstnat", frozenset(), False),
        ("dstnat", frozenset({"dstnat"}), True),
        ("srcnat,dstnat", frozenset({"srcnat"}), True),
        ("srcnat", frozenset({"dstnat"}), False),
    ],
)
def test_connection_nat_state(matcher: str, nat: frozenset[str], dropped: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", "connection-nat-state": matcher})
    ctx = Context("forward", WAN_IF, CLUSTER_IF, "new", nat)
    assert verdict(fw, pkt(), ctx) == (("drop", 0) if dropped else ("accept", None))


@pytest.mark.parametrize(("prop", "value"), [("connection-state", "new,bogus"), ("connection-nat-state", "masquerade")])
def test_unknown_states_raise(prop: str, value: str) -> None:
    with pytest.raises(FirewallError, match=rf"rule #0 .*{prop}"):
        firewall({"chain": "forward", "action": "drop", prop: value})


# ===================================================================================== interface lists
IFACE_LISTS = [
    {"name": "INSIDE"},
    {"name": "HOME"},
    {"name": "MGMT"},
    {"name": "ALLLAN", "include": "INSIDE,MGMT"},
    {"name": "NOHOME", "include": "INSIDE,MGMT", "exclude": "HOME"},
]
IFACE_MEMBERS = [
    {"list": "INSIDE", "interface": HOME_IF},
    {"list": "INSIDE", "interface": CLUSTER_IF},
    {"list": "INSIDE", "interface": "wireguard1", "disabled": "yes"},  # ignored
    {"list": "HOME", "interface": HOME_IF},
    {"list": "MGMT", "interface": MGMT_IF},
]


@pytest.mark.parametrize(
    ("name", "members"),
    [
        ("INSIDE", {HOME_IF, CLUSTER_IF}),
        ("ALLLAN", {HOME_IF, CLUSTER_IF, MGMT_IF}),
        ("NOHOME", {CLUSTER_IF, MGMT_IF}),
        ("none", set()),
        ("all", None),
    ],
)
def test_interface_list_resolution(name: str, members: set[str] | None) -> None:
    fw = firewall(lists=IFACE_LISTS, members=IFACE_MEMBERS)
    got = fw.interface_list(name)
    assert got == (None if members is None else frozenset(members))


@pytest.mark.parametrize(
    ("in_if", "expected"),
    [(HOME_IF, ("accept", 1)), (CLUSTER_IF, ("accept", 0)), (MGMT_IF, ("accept", 0)), ("wireguard1", ("drop", 2)),
     (WAN_IF, ("drop", 2))],
)  # fmt: skip
def test_interface_list_matching_with_include_exclude(in_if: str, expected: tuple[str, int]) -> None:
    fw = firewall(
        {"chain": "forward", "action": "accept", "in-interface-list": "NOHOME"},
        {"chain": "forward", "action": "accept", "in-interface-list": "ALLLAN"},
        {"chain": "forward", "action": "drop"},
        lists=IFACE_LISTS,
        members=IFACE_MEMBERS,
    )
    assert verdict(fw, pkt(), Context("forward", in_if, CLUSTER_IF)) == expected


@pytest.mark.parametrize(("value", "matches"), [("all", True), ("!all", False), ("none", False), ("!none", True)])
def test_builtin_interface_lists(value: str, matches: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", "out-interface-list": value})
    assert verdict(fw, pkt(), Context("forward", "anything", "whatever")) == (
        ("drop", 0) if matches else ("accept", None)
    )


def test_interface_matcher_without_that_interface_does_not_match() -> None:
    fw = firewall(
        {"chain": "output", "action": "drop", "in-interface": "!ether1"},  # output has no in-interface
        {"chain": "output", "action": "drop", "in-interface-list": "all"},
        {"chain": "output", "action": "reject", "out-interface": "ether1"},
    )
    assert verdict(fw, pkt(), Context("output", None, WAN_IF)) == ("reject", 2)
    assert verdict(fw, pkt(), Context("output", None, HOME_IF)) == ("accept", None)


@pytest.mark.parametrize(
    ("lists", "name", "message"),
    [
        ([], "NOPE", "interface list 'NOPE' does not exist"),
        ([{"name": "LOOP", "include": "LOOP"}], "LOOP", "includes itself"),
        ([{"name": "A", "include": "B"}, {"name": "B", "include": "A"}], "A", "includes itself"),
        ([{"name": "EVERY", "include": "all"}], "EVERY", "includes 'all'"),
        ([], "dynamic", "run-time state"),
        ([{"name": "X", "include": "MISSING"}], "X", "'MISSING' does not exist"),
    ],
)
def test_bad_interface_lists_raise_naming_the_rule(lists: list[dict[str, str]], name: str, message: str) -> None:
    with pytest.raises(FirewallError, match=rf"test\.rsc: filter rule #1 \"wan\": .*{re.escape(message)}"):
        firewall(
            {"chain": "forward", "action": "accept"},
            {"chain": "forward", "action": "drop", "in-interface-list": name, "comment": "wan"},
            lists=lists,
        )


# ====================================================================================== address lists
TRUSTED = [
    {"list": "trusted", "address": "192.168.88.10"},
    {"list": "trusted", "address": "192.168.88.20-192.168.88.30"},
    {"list": "trusted", "address": "10.0.0.0/8", "disabled": "true"},
    {"list": "trusted", "address": "172.16.5.9/30"},
    {"list": "other", "address": "192.168.88.11"},
]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("192.168.88.10", ("accept", 0)),
        ("192.168.88.11", ("drop", 1)),  # on another list
        ("192.168.88.19", ("drop", 1)),
        ("192.168.88.20", ("accept", 0)),
        ("192.168.88.30", ("accept", 0)),
        ("192.168.88.31", ("drop", 1)),
        ("10.1.2.3", ("drop", 1)),  # the entry is disabled
        ("172.16.5.8", ("accept", 0)),  # a network entry with host bits: 172.16.5.8/30
        ("172.16.5.11", ("accept", 0)),
        ("172.16.5.12", ("drop", 1)),
    ],
)
def test_address_list(src: str, expected: tuple[str, int]) -> None:
    fw = firewall(
        {"chain": "forward", "action": "accept", "src-address-list": "trusted"},
        {"chain": "forward", "action": "drop"},
        addresses=TRUSTED,
    )
    assert verdict(fw, pkt(src=src)) == expected


def test_address_list_combines_with_address_matcher() -> None:
    fw = firewall(
        {
            "chain": "forward",
            "action": "accept",
            "src-address-list": "trusted",
            "src-address": "192.168.88.25-192.168.88.40",
        },
        addresses=TRUSTED,
    )
    assert fw.address_list("trusted") == Ints(
        [(ip("192.168.88.10"), ip("192.168.88.10")), (ip("192.168.88.20"), ip("192.168.88.30")),
         (ip("172.16.5.8"), ip("172.16.5.11"))]
    )  # fmt: skip
    assert verdict(fw, pkt(src="192.168.88.25")) == ("accept", 0)
    assert verdict(fw, pkt(src="192.168.88.20")) == ("accept", None)  # in the list, outside the range
    assert verdict(fw, pkt(src="192.168.88.35")) == ("accept", None)  # in the range, not in the list


def test_unknown_address_list_matches_nothing_and_its_negation_everything() -> None:
    fw = firewall(
        {"chain": "forward", "action": "accept", "dst-address-list": "nobody"},
        {"chain": "forward", "action": "reject", "src-address-list": "!nobody"},
    )
    assert fw.address_list("nobody") == EMPTY
    assert verdict(fw, pkt()) == ("reject", 1)


def test_address_list_dns_entry_raises() -> None:
    with pytest.raises(FirewallError, match=r"address-list 'updates' entry 'updates\.example\.com'.*DNS names"):
        firewall(addresses=[{"list": "updates", "address": "updates.example.com"}])


def test_address_list_entry_needs_list_and_address() -> None:
    with pytest.raises(FirewallError, match="needs list and address"):
        firewall(addresses=[{"list": "x", ".id": "*3"}])


# ============================================================================ what the evaluator refuses
@pytest.mark.parametrize(
    ("matcher", "value"),
    [("tcp-flags", "syn"), ("dst-address-type", "local"), ("connection-mark", "x"), ("layer7-protocol", "y")],
)
def test_unsupported_matcher_raises_naming_rule_and_matcher(matcher: str, value: str) -> None:
    with pytest.raises(FirewallError) as info:
        firewall(
            {"chain": "input", "action": "accept"},
            {"chain": "forward", "action": "accept", "protocol": "tcp", "disabled": "yes", "tcp-flags": "syn"},
            {"chain": "forward", "action": "drop", "protocol": "tcp", matcher: value},
        )
    message = str(info.value)
    assert message.startswith("test.rsc: filter rule #2 (chain=forward action=drop): ")
    assert f"matcher(s) {matcher} are not evaluated" in message


def test_matcher_with_empty_value_is_unset() -> None:
    fw = firewall({"chain": "forward", "action": "drop", "tcp-flags": "", "src-address": ""})
    assert verdict(fw, pkt()) == ("drop", 0)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "drop"}, "has no chain"),
        ({"chain": "forward", "action": "masquerade"}, "action 'masquerade' is not a filter action"),
        ({"chain": "forward", "action": "drop", "protocol": "bogus"}, "unknown protocol 'bogus'"),
        ({"chain": "forward", "action": "drop", "protocol": "256"}, "unknown protocol '256'"),
        ({"chain": "forward", "action": "drop", "src-address": "host.lan"}, "not an IPv4 address"),
        ({"chain": "forward", "action": "drop", "ipsec-policy": "sideways,none"}, "ipsec-policy"),
    ],
)
def test_malformed_rules_raise(rule: dict[str, str], message: str) -> None:
    with pytest.raises(FirewallError, match=re.escape(message)):
        firewall(rule)


@pytest.mark.parametrize(("policy", "matches"), [("in,none", True), ("out,none", True), ("in,ipsec", False)])
def test_ipsec_policy_none_matches_plain_traffic(policy: str, matches: bool) -> None:
    fw = firewall({"chain": "forward", "action": "drop", "ipsec-policy": policy})
    assert verdict(fw, pkt()) == (("drop", 0) if matches else ("accept", None))


# ============================================================ exhaustiveness against a naive interpreter
Q_SRC = Ints.span(ip("10.0.0.0"), ip("10.0.0.15"))
Q_DST = Ints.span(ip("10.0.1.0"), ip("10.0.1.15"))
Q_PROTO = Ints([(1, 1), (6, 6), (17, 17)])
Q_SPORT = Ints.span(50, 57)
Q_DPORT = Ints.span(20, 35)
QUERY = Box(Q_SRC, Q_DST, Q_PROTO, Q_SPORT, Q_DPORT)
NAMES = {"tcp": 6, "udp": 17, "icmp": 1}
PORTED = {6, 17, 33, 132, 136}


def _neg(draw: Any, text: str) -> str:
    return ("!" + text) if draw(st.booleans()) else text


@st.composite
def _address(draw: Any, net: str) -> str:
    if draw(st.booleans()):
        prefix = draw(st.integers(27, 32))
        host = draw(st.integers(0, 19))  # may set host bits, may fall outside the query
        return _neg(draw, f"{net}.{host}/{prefix}")
    a, b = sorted(draw(st.lists(st.integers(0, 19), min_size=2, max_size=2)))
    return _neg(draw, f"{net}.{a}-{net}.{b}")


@st.composite
def _ports(draw: Any, lo: int, hi: int) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        a, b = sorted(draw(st.lists(st.integers(lo, hi), min_size=2, max_size=2)))
        parts.append(str(a) if a == b or draw(st.booleans()) else f"{a}-{b}")
    return _neg(draw, ",".join(parts))


@st.composite
def _rule(draw: Any, chain: str) -> dict[str, str]:
    actions = ["accept", "drop", "reject", "log", "passthrough"]
    actions += ["jump"] if chain == "forward" else ["return", "return"]
    rule = {"chain": chain, "action": draw(st.sampled_from(actions))}
    if rule["action"] == "jump":
        rule["jump-target"] = "sub"
    if draw(st.integers(0, 9)) == 0:
        rule["disabled"] = "yes"
    if draw(st.booleans()):
        rule["src-address"] = draw(_address("10.0.0"))
    if draw(st.booleans()):
        rule["dst-address"] = draw(_address("10.0.1"))
    proto = draw(st.sampled_from([None, "tcp", "udp", "icmp", "!tcp", "!icmp", "!udp"]))
    if proto is not None:
        rule["protocol"] = proto
    if proto != "icmp":
        for prop, lo, hi in (("dst-port", 18, 37), ("src-port", 48, 59), ("port", 18, 59)):
            if draw(st.integers(0, 3)) == 0:
                rule[prop] = draw(_ports(lo, hi))
    if draw(st.integers(0, 4)) == 0:
        rule["connection-state"] = draw(st.sampled_from(["new", "established,related", "!new"]))
    if draw(st.integers(0, 4)) == 0:
        rule["in-interface"] = draw(st.sampled_from(["ether1", "!ether1"]))
    return rule


def _ref_addr(text: str, value: int) -> bool:
    neg, body = text.startswith("!"), text.lstrip("!")
    if "-" in body:
        lo, hi = body.split("-")
        hit = ip(lo) <= value <= ip(hi)
    else:
        hit = IPv4Address(value) in ip_network(body, strict=False)
    return hit != neg


def _ref_ports(text: str) -> tuple[bool, set[int]]:
    neg, body = text.startswith("!"), text.lstrip("!")
    out: set[int] = set()
    for part in body.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return neg, out


def _ref_matches(rule: Mapping[str, str], ctx: Context, p: Mapping[str, int]) -> bool:
    """One rule against one packet, matcher by matcher, from the RouterOS documentation."""
    if "src-address" in rule and not _ref_addr(rule["src-address"], p["src"]):
        return False
    if "dst-address" in rule and not _ref_addr(rule["dst-address"], p["dst"]):
        return False
    if "protocol" in rule:
        neg, name = rule["protocol"].startswith("!"), rule["protocol"].lstrip("!")
        if (p["proto"] == NAMES[name]) == neg:
            return False
    for prop in ("dst-port", "src-port", "port"):
        if prop not in rule:
            continue
        if p["proto"] not in PORTED:
            return False
        neg, ports = _ref_ports(rule[prop])
        if prop == "port":
            hit = p["sport"] in ports or p["dport"] in ports
        else:
            hit = p["sport" if prop == "src-port" else "dport"] in ports
        if hit == neg:
            return False
    if "connection-state" in rule:
        neg, states = rule["connection-state"].startswith("!"), rule["connection-state"].lstrip("!").split(",")
        if (ctx.state in states) == neg:
            return False
    if "in-interface" in rule:
        neg, name = rule["in-interface"].startswith("!"), rule["in-interface"].lstrip("!")
        if (ctx.in_interface == name) == neg:
            return False
    return True


def reference_decide(
    rules: list[dict[str, str]], ctx: Context, p: Mapping[str, int]
) -> tuple[str, int | None, tuple[int, ...]]:
    """A naive one-packet interpreter: (verdict, rule number or None, jump rule numbers)."""

    def run(chain: str, via: tuple[int, ...]) -> tuple[str, int, tuple[int, ...]] | str:
        for number, rule in enumerate(rules):
            if rule["chain"] != chain or rule.get("disabled") == "yes" or not _ref_matches(rule, ctx, p):
                continue
            action = rule["action"]
            if action in ("accept", "drop", "reject", "tarpit"):
                return (action, number, via)
            if action == "return":
                return "return"
            if action == "jump":
                sub = run(rule["jump-target"], (*via, number))
                if not isinstance(sub, str):
                    return sub
        return "end"

    result = run(ctx.chain, ())
    return ("accept", None, ()) if isinstance(result, str) else result


def _random_point(rng: random.Random, box: Box) -> Box:
    values = []
    for dim in box.dims():
        lo, hi = rng.choice(dim.ranges)
        values.append(Ints.point(rng.randint(lo, hi)))
    return Box(*values)


def _as_packet(b: Box) -> dict[str, int]:
    return dict(zip(("src", "dst", "proto", "sport", "dport"), (d.first() for d in b.dims()), strict=True))


def _key(o: Outcome) -> tuple[str, int | None, tuple[int, ...]]:
    return (o.verdict, None if o.rule is None else o.rule.number, tuple(j.number for j in o.via))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_rule("forward"), max_size=6),
    st.lists(_rule("sub"), max_size=5),
    st.sampled_from(["new", "established"]),
    st.sampled_from(["ether1", "ether2"]),
    st.integers(0, 2**32 - 1),
)
def test_evaluate_is_an_exact_partition_and_agrees_with_a_naive_interpreter(
    forward: list[dict[str, str]], sub: list[dict[str, str]], state: str, in_if: str, seed: int
) -> None:
    # Interleave the chains in print order as an operator might have them.
    rules = [*forward[:2], *sub, *forward[2:]]
    fw = firewall(*rules)
    ctx = Context("forward", in_if, "ether3", state)
    regions = fw.evaluate(ctx, QUERY)

    for r in regions:
        assert not r.box.empty()
        assert all(dim.issubset(q) for dim, q in zip(r.box.dims(), QUERY.dims(), strict=True))
    for a, b in combinations(regions, 2):
        assert (a.box & b.box) is None
    expected_size = Q_SRC.size * Q_DST.size * Q_PROTO.size * Q_SPORT.size * Q_DPORT.size
    assert expected_size == 16 * 16 * 3 * 8 * 16
    assert sum(box_size(r.box) for r in regions) == expected_size

    rng = random.Random(seed)
    for r in regions:
        for _ in range(2):
            point = _random_point(rng, r.box)
            assert fw.decide(ctx, point) == r.outcome
            assert reference_decide(rules, ctx, _as_packet(point)) == _key(r.outcome)
    for _ in range(20):
        point = _random_point(rng, QUERY)
        assert _key(fw.decide(ctx, point)) == reference_decide(rules, ctx, _as_packet(point))


def test_exact_partition_on_a_hand_built_rule_set() -> None:
    """The same invariants on a fixed rule set, with hand-counted region sizes."""
    fw = firewall(
        {"chain": "forward", "action": "jump", "jump-target": "sub", "src-address": "10.0.0.0/29"},  # 0
        {"chain": "sub", "action": "return", "protocol": "icmp"},  # 1
        {"chain": "sub", "action": "accept", "protocol": "tcp", "port": "22"},  # 2
        {"chain": "forward", "action": "drop", "protocol": "tcp"},  # 3
    )
    regions = fw.evaluate(FWD, QUERY)
    total: dict[tuple[str, int | None], int] = {}
    for r in regions:
        k = (r.outcome.verdict, r.outcome.rule.number if r.outcome.rule else None)
        total[k] = total.get(k, 0) + box_size(r.box)
    # Ports 50-57 (sport) and 20-35 (dport) never hold 22 as a source port; dport 22 is one of 16.
    src_in, src_out = 8, 8
    accept2 = src_in * 16 * 1 * 8 * 1  # tcp from 10.0.0.0/29 with dport 22
    drop3 = (src_in * 16 * 8 * 15) + (src_out * 16 * 8 * 16)  # the other tcp
    default = 16 * 16 * 2 * 8 * 16  # icmp and udp: nothing decides them
    assert total == {("accept", 2): accept2, ("drop", 3): drop3, ("accept", None): default}
    assert sum(total.values()) == 16 * 16 * 3 * 8 * 16


# ============================================================================== the recorded homelab
@pytest.fixture(scope="module")
def recorded() -> Firewall:
    return Firewall(parse_rsc(RSC.read_text(encoding="utf-8"), "router.rsc"))


def _filter_number(comment_fragment: str) -> int:
    """The print number of a filter rule, counted by hand from the export's ``add`` lines."""
    section, number = None, -1
    for line in RSC.read_text(encoding="utf-8").splitlines():
        if line.startswith("/"):
            section = line.strip()
            continue
        if section == "/ip firewall filter" and line.startswith("add "):
            number += 1
            if comment_fragment in line:
                return number
    raise AssertionError(comment_fragment)


def test_recorded_rule_numbers_from_the_file() -> None:
    assert _filter_number("Allow Home \\E2\\86\\92 Homelab (SSH,HTTP,HTTPS)") == 10
    assert _filter_number("Block Home \\E2\\86\\92 Homelab (other)") == 11
    assert _filter_number("connection-nat-state=!dstnat") == 8
    assert _filter_number("Drop all remaining") == 17


def test_recorded_home_ssh_to_cluster_is_accepted_by_the_home_homelab_allow(recorded: Firewall) -> None:
    out = recorded.decide(FWD, pkt(dport=22))
    assert out.verdict == "accept"
    assert out.rule is not None and out.rule.number == 10 and out.rule.id == "*B"
    assert out.rule.comment == "Allow Home → Homelab (SSH,HTTP,HTTPS)"
    assert str(out.rule) == 'rule #10 "Allow Home → Homelab (SSH,HTTP,HTTPS)"'


def test_recorded_home_telnet_to_cluster_is_dropped_by_the_block(recorded: Firewall) -> None:
    out = recorded.decide(FWD, pkt(dport=23))
    assert out.verdict == "drop"
    assert out.rule is not None and out.rule.number == 11
    assert out.rule.comment == "Block Home → Homelab (other)"


def test_recorded_home_to_cluster_accepts_exactly_ssh_http_https(recorded: Firewall) -> None:
    query = Box(parse_addresses("192.168.88.0/24"), parse_addresses("192.168.77.0/24"), Ints.point(6))
    regions = recorded.evaluate(FWD, query)
    accepted = Ints([p for r in regions if r.outcome.accepts for p in r.box.dport.ranges])
    assert accepted == Ints([(22, 22), (80, 80), (443, 443)])
    assert {r.outcome.rule.number for r in regions if r.outcome.rule} == {10, 11}


def test_recorded_new_connections_from_wan_are_dropped_unless_dstnated(recorded: Firewall) -> None:
    packet = pkt(src="203.0.113.7", dst="192.168.77.200", dport=443)
    plain = recorded.decide(Context("forward", WAN_IF, CLUSTER_IF, "new"), packet)
    assert plain.verdict == "drop"
    assert plain.rule is not None and plain.rule.number == 8
    assert str(plain.rule) == "rule #8 (chain=forward action=drop)"
    natted = recorded.decide(Context("forward", WAN_IF, CLUSTER_IF, "new", frozenset({"dstnat"})), packet)
    assert natted.rule is not None and natted.rule.number != 8
    # rules 9-16 need a LAN/VPN source address: the catch-all drop decides
    assert natted.rule.number == 17 and natted.rule.comment == "Drop all remaining"


def test_recorded_established_traffic_passes_the_fasttrack_rule(recorded: Firewall) -> None:
    ctx = Context("forward", WAN_IF, CLUSTER_IF, "established")
    assert verdict(recorded, pkt(src="203.0.113.7", sport=443, dport=40000), ctx) == ("accept", 6)


@pytest.mark.parametrize(
    ("dst", "expected"),
    [("192.168.88.10", ("drop", 15)), ("10.42.3.4", ("accept", 16)), ("192.168.77.10", ("accept", 16)),
     ("192.168.100.2", ("drop", 15))],
)  # fmt: skip
def test_recorded_vpn_address_list(recorded: Firewall, dst: str, expected: tuple[str, int]) -> None:
    ctx = Context("forward", "wireguard1", HOME_IF)
    assert verdict(recorded, pkt(src="192.168.216.2", dst=dst), ctx) == expected


def test_recorded_input_chain(recorded: Firewall) -> None:
    assert verdict(recorded, pkt(dst="192.168.88.1"), Context("input", HOME_IF)) == ("accept", 3)
    assert verdict(recorded, pkt(src="203.0.113.7", dst="192.168.88.1"), Context("input", WAN_IF)) == ("drop", 4)
    ping = pkt(src="203.0.113.7", dst="192.168.88.1", proto="icmp", sport=0, dport=0)
    assert verdict(recorded, ping, Context("input", WAN_IF)) == ("accept", 2)


def test_region_and_outcome_are_values() -> None:
    ref = RuleRef(3, "*4", "forward", "drop")
    assert Region(Box(), Outcome("drop", ref)) == Region(Box(), Outcome("drop", ref))
    assert hash(Outcome("drop", ref, (ref,), "x")) == hash(Outcome("drop", ref, (ref,), "x"))
