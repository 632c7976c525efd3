"""Integer interval sets over a bounded universe (pure): addresses, protocols and ports as header space.

:class:`Ints` is the building block of the firewall evaluator's packet boxes.  It is kept separate from
:class:`pytest_zengarden.analysis.ports.IntervalSet` (ports 1-65535 as ``PortRange``) because it must also hold
32-bit and 128-bit addresses and protocol numbers, and because set algebra there runs in hot loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv6Address

Range = tuple[int, int]


class Ints:
    """An immutable set of integers as sorted, disjoint, non-adjacent inclusive ranges."""

    __slots__ = ("ranges",)

    def __init__(self, ranges: Iterable[Range] = (), *, normalized: bool = False):
        if normalized:
            self.ranges: tuple[Range, ...] = tuple(ranges)
            return
        merged: list[Range] = []
        for lo, hi in sorted(ranges):
            if lo > hi:
                raise ValueError(f"empty range {lo}-{hi}")
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        self.ranges = tuple(merged)

    @classmethod
    def span(cls, lo: int, hi: int) -> Ints:
        return cls(((lo, hi),), normalized=True)

    @classmethod
    def point(cls, value: int) -> Ints:
        return cls(((value, value),), normalized=True)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ints) and self.ranges == other.ranges

    def __hash__(self) -> int:
        return hash(self.ranges)

    def __repr__(self) -> str:
        return f"Ints({', '.join(f'{a}-{b}' if a != b else str(a) for a, b in self.ranges) or 'empty'})"

    def __iter__(self) -> Iterator[Range]:
        return iter(self.ranges)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and any(lo <= value <= hi for lo, hi in self.ranges)

    @property
    def size(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def first(self) -> int:
        if not self.ranges:
            raise ValueError("empty set has no first element")
        return self.ranges[0][0]

    def __and__(self, other: Ints) -> Ints:
        a, b = self.ranges, other.ranges
        if not a or not b:
            return EMPTY
        if len(a) == 1 and len(b) == 1:  # the common case in the evaluator: two spans
            lo, hi = max(a[0][0], b[0][0]), min(a[0][1], b[0][1])
            return Ints(((lo, hi),), normalized=True) if lo <= hi else EMPTY
        out: list[Range] = []
        i = j = 0
        while i < len(a) and j < len(b):
            lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return Ints(out, normalized=True)

    def __or__(self, other: Ints) -> Ints:
        return Ints((*self.ranges, *other.ranges))

    def complement(self, universe: Ints) -> Ints:
        """``universe`` minus this set."""
        return universe - self

    def __sub__(self, other: Ints) -> Ints:
        if not other.ranges or not self.ranges:
            return self
        out: list[Range] = []
        j = 0
        b = other.ranges
        for lo, hi in self.ranges:
            cur = lo
            while j < len(b) and b[j][1] < cur:
                j += 1
            k = j
            while k < len(b) and b[k][0] <= hi:
                if b[k][0] > cur:
                    out.append((cur, b[k][0] - 1))
                cur = max(cur, b[k][1] + 1)
                if cur > hi:
                    break
                k += 1
            if cur <= hi:
                out.append((cur, hi))
        return Ints(out, normalized=True)

    def issubset(self, other: Ints) -> bool:
        return not (self - other)

    def describe_addresses(self, limit: int = 4, family: int = 4) -> str:
        """Addresses as a short human list: ``192.168.88.5, 192.168.88.8-192.168.88.11`` (``...`` after ``limit``)."""
        show = IPv4Address if family == 4 else IPv6Address
        parts = [str(show(lo)) if lo == hi else f"{show(lo)}-{show(hi)}" for lo, hi in self.ranges[:limit]]
        if len(self.ranges) > limit:
            parts.append(f"... ({len(self.ranges) - limit} more)")
        return ", ".join(parts)

    def describe_ports(self, limit: int = 6) -> str:
        parts = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges[:limit]]
        if len(self.ranges) > limit:
            parts.append(f"... ({len(self.ranges) - limit} more)")
        return ",".join(parts)


EMPTY = Ints((), normalized=True)
ADDRESSES = Ints.span(0, 2**32 - 1)
ADDRESSES6 = Ints.span(0, 2**128 - 1)
PROTOCOL_NUMBERS = Ints.span(0, 255)
PORTS = Ints.span(0, 65535)


def address_space(family: int) -> Ints:
    """Every address of an IP family: 4 (32-bit) or 6 (128-bit)."""
    if family == 4:
        return ADDRESSES
    if family == 6:
        return ADDRESSES6
    raise ValueError(f"address family {family!r} is neither 4 nor 6")
