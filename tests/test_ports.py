"""Port ranges and interval sets: set algebra agrees with Python sets; port specs parse or explain."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_zengarden.analysis.ports import PORT_MAX, PORT_MIN, IntervalSet, PortRange, parse_port_spec

PROPS = settings(max_examples=200, deadline=None)
FULL = frozenset(range(PORT_MIN, PORT_MAX + 1))

# A small universe: the ends of the port space and a few points in the middle.  Ranges drawn from it
# meet, touch and overlap often, and the Python-set model of each set stays small.
UNIVERSE = (*range(1, 13), 1000, 1001, 1002, *range(65528, 65536))
endpoint = st.sampled_from(UNIVERSE)


@st.composite
def port_ranges(draw: st.DrawFn) -> PortRange:
    a, b = sorted((draw(endpoint), draw(endpoint)))
    # Mostly short ranges (so sets meet and touch), sometimes one spanning most of the space.
    if b - a > 40 and draw(st.integers(0, 3)):
        b = a + draw(st.integers(0, 3)) if a < PORT_MAX - 3 else PORT_MAX
    return PortRange(a, b)


interval_sets = st.lists(port_ranges(), max_size=6).map(IntervalSet)


def as_set(s: IntervalSet) -> frozenset[int]:
    return frozenset(p for r in s for p in range(r.lo, r.hi + 1))


def check_canonical(s: IntervalSet) -> None:
    """Sorted, disjoint and non-adjacent: the representation is unique."""
    ranges = s.ranges
    for a, b in pairwise(ranges):
        assert a.hi + 1 < b.lo, s


# ------------------------------------------------------------------------------------------ properties
@PROPS
@given(st.lists(port_ranges(), max_size=6))
def test_construction_is_canonical_union(ranges: list[PortRange]) -> None:
    s = IntervalSet(ranges)
    check_canonical(s)
    expected = frozenset(p for r in ranges for p in range(r.lo, r.hi + 1))
    assert as_set(s) == expected
    assert s.size == len(expected)
    assert bool(s) == bool(expected)
    assert IntervalSet(reversed(ranges)) == s
    assert hash(IntervalSet(reversed(ranges))) == hash(s)


@PROPS
@given(interval_sets, interval_sets)
def test_union_intersection_subtract(a: IntervalSet, b: IntervalSet) -> None:
    sa, sb = as_set(a), as_set(b)
    for got, want in ((a | b, sa | sb), (a & b, sa & sb), (a - b, sa - sb), (b - a, sb - sa)):
        check_canonical(got)
        assert as_set(got) == want
        assert got.size == len(want)
    assert a | b == b | a
    assert a & b == b & a


@PROPS
@given(interval_sets)
def test_complement(a: IntervalSet) -> None:
    c = a.complement()
    check_canonical(c)
    assert c.size == len(FULL) - a.size
    assert as_set(c) == FULL - as_set(a)
    assert c.complement() == a
    assert (a & c) == IntervalSet()
    assert (a | c) == IntervalSet.full()
    assert IntervalSet.full() - a == c


@PROPS
@given(interval_sets, st.sampled_from((0, *UNIVERSE, 13, 999, 1003, 65527, PORT_MAX + 1)))
def test_membership(a: IntervalSet, port: int) -> None:
    assert (port in a) == (port in as_set(a))
    assert (port in a.complement()) == (PORT_MIN <= port <= PORT_MAX and port not in as_set(a))


@PROPS
@given(st.integers(PORT_MIN, PORT_MAX), st.integers(PORT_MIN, PORT_MAX))
def test_port_range_round_trips_through_spec(x: int, y: int) -> None:
    r = PortRange(min(x, y), max(x, y))
    assert parse_port_spec(str(r)) == r
    assert r.size == r.hi - r.lo + 1
    assert (r.lo in r) and (r.hi in r)
    assert (r.lo - 1) not in r and (r.hi + 1) not in r
    if r.lo == r.hi:
        assert parse_port_spec(r.lo) == r


@PROPS
@given(st.integers(PORT_MIN, PORT_MAX), st.integers(PORT_MIN, PORT_MAX))
def test_reversed_range_spec_is_an_error(x: int, y: int) -> None:
    lo, hi = min(x, y), max(x, y)
    if lo == hi:
        return
    spec = f"{hi}-{lo}"
    with pytest.raises(ValueError, match=r"is empty \(start after end\)"):
        parse_port_spec(spec)


@PROPS
@given(st.one_of(st.integers(max_value=0), st.integers(min_value=PORT_MAX + 1)))
def test_out_of_range_ports_are_errors(port: int) -> None:
    with pytest.raises(ValueError, match="bad port range"):
        parse_port_spec(port)
    with pytest.raises(ValueError, match="bad port range"):
        PortRange(port, port)


# ------------------------------------------------------------------------------------------- examples
def test_full_and_empty() -> None:
    assert IntervalSet.full().ranges == (PortRange(PORT_MIN, PORT_MAX),)
    assert IntervalSet.full().size == 65535
    assert IntervalSet().complement() == IntervalSet.full()
    assert IntervalSet.full().complement() == IntervalSet()
    assert not IntervalSet()
    assert repr(IntervalSet()) == "IntervalSet(empty)"


def test_adjacent_ranges_merge() -> None:
    s = IntervalSet([PortRange(80, 80), PortRange(81, 90), PortRange(443, 443)])
    assert s.ranges == (PortRange(80, 90), PortRange(443, 443))
    assert str(s) == "80-90,443"
    assert repr(s) == "IntervalSet(80-90, 443)"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (443, PortRange(443, 443)),
        ("443", PortRange(443, 443)),
        (" 22 ", PortRange(22, 22)),
        ("1000-2000", PortRange(1000, 2000)),
        ("1-65535", PortRange(1, 65535)),
        ("7-7", PortRange(7, 7)),
    ],
)
def test_parse_port_spec(spec: int | str, expected: PortRange) -> None:
    assert parse_port_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http", r"not a port or port range: 'http'"),
        ("", r"not a port or port range: ''"),
        ("80-", r"not a port or port range: '80-'"),
        ("-80", r"not a port or port range: '-80'"),
        ("1-2-3", r"not a port or port range: '1-2-3'"),
        ("80,443", r"not a port or port range: '80,443'"),
        ("443-400", r"port range '443-400' is empty \(start after end\)"),
        ("0", r"bad port range 0-0"),
        ("0-80", r"bad port range 0-80"),
        ("1-65536", r"bad port range 1-65536"),
        (65536, r"bad port range 65536-65536"),
        (True, r"not a port: True"),
        (False, r"not a port: False"),
    ],
)
def test_parse_port_spec_errors(spec: int | str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        parse_port_spec(spec)


def test_port_range_rejects_reversed_bounds() -> None:
    with pytest.raises(ValueError, match="bad port range 9-8"):
        PortRange(9, 8)
