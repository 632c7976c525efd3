"""Port ranges and interval sets over the 16-bit port space (pure).

Verdicts in the flow matrix are given per *interval* of ports, so the whole space 1-65535 is covered
without listing 65535 rows; the same type serves the firewall evaluator later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

PORT_MIN = 1
PORT_MAX = 65535


@dataclass(frozen=True, order=True)
class PortRange:
    """An inclusive range of ports."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not PORT_MIN <= self.lo <= self.hi <= PORT_MAX:
            raise ValueError(f"bad port range {self.lo}-{self.hi} (ports are {PORT_MIN}-{PORT_MAX})")

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


def parse_port_spec(spec: int | str) -> PortRange:
    """``443`` or ``"443"`` -> 443-443; ``"1000-2000"`` -> 1000-2000.  Raises ``ValueError`` with the reason."""
    if isinstance(spec, bool):
        raise ValueError(f"not a port: {spec!r}")
    if isinstance(spec, int):
        return PortRange(spec, spec)
    text = spec.strip()
    lo_s, sep, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
    except ValueError:
        raise ValueError(f"not a port or port range: {spec!r}") from None
    if lo > hi:
        raise ValueError(f"port range {spec!r} is empty (start after end)")
    return PortRange(lo, hi)


class IntervalSet:
    """An immutable set of ports kept as sorted, disjoint, non-adjacent ranges."""

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Iterable[PortRange] = ()):
        merged: list[PortRange] = []
        for r in sorted(ranges):
            if merged and r.lo <= merged[-1].hi + 1:
                last = merged[-1]
                merged[-1] = PortRange(last.lo, max(last.hi, r.hi))
            else:
                merged.append(r)
        self._ranges = tuple(merged)

    @classmethod
    def full(cls) -> IntervalSet:
        return cls([PortRange(PORT_MIN, PORT_MAX)])

    @property
    def ranges(self) -> tuple[PortRange, ...]:
        return self._ranges

    def __iter__(self) -> Iterator[PortRange]:
        return iter(self._ranges)

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self._ranges == other._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __repr__(self) -> str:
        return f"IntervalSet({', '.join(map(str, self._ranges)) or 'empty'})"

    def __str__(self) -> str:
        return ",".join(map(str, self._ranges))

    def __contains__(self, port: object) -> bool:
        return any(port in r for r in self._ranges)

    def __or__(self, other: IntervalSet) -> IntervalSet:
        return IntervalSet([*self._ranges, *other._ranges])

    def complement(self) -> IntervalSet:
        out: list[PortRange] = []
        nxt = PORT_MIN
        for r in self._ranges:
            if r.lo > nxt:
                out.append(PortRange(nxt, r.lo - 1))
            nxt = r.hi + 1
        if nxt <= PORT_MAX:
            out.append(PortRange(nxt, PORT_MAX))
        return IntervalSet(out)

    def __and__(self, other: IntervalSet) -> IntervalSet:
        out: list[PortRange] = []
        i = j = 0
        a, b = self._ranges, other._ranges
        while i < len(a) and j < len(b):
            lo, hi = max(a[i].lo, b[j].lo), min(a[i].hi, b[j].hi)
            if lo <= hi:
                out.append(PortRange(lo, hi))
            if a[i].hi < b[j].hi:
                i += 1
            else:
                j += 1
        return IntervalSet(out)

    def __sub__(self, other: IntervalSet) -> IntervalSet:
        return self & other.complement()

    @property
    def size(self) -> int:
        return sum(r.size for r in self._ranges)
