"""Expand the site's firewall policy into the expected flow matrix (pure).

For every ordered pair of distinct segments and every protocol the matrix gives exactly one verdict
for every port, as intervals, with the statement (and so the control id) that decided it:

* a matching ``deny`` statement decides first (the design's explicit prohibitions),
* else the first matching ``allow`` statement,
* else the default (deny).

A site whose deny and allow statements overlap is rejected when it is loaded (see
:func:`contradictions`), so precedence never hides a mistake in the design.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from ..site.schema import Firewall, FlowStatement, Protocol
from .ports import PORT_MAX, PORT_MIN, IntervalSet, PortRange, parse_port_spec

PROTOCOLS: tuple[Protocol, ...] = (Protocol.TCP, Protocol.UDP, Protocol.ICMP)
PORTED: frozenset[Protocol] = frozenset({Protocol.TCP, Protocol.UDP})
Verdict = Literal["allow", "deny"]


@dataclass(frozen=True)
class Decision:
    """Why a flow has its expected verdict: the statement (or the default) and its control."""

    verdict: Verdict
    control: str
    section: str
    statement: str  # "firewall.allow[1]" or "firewall.default"
    description: str = ""


@dataclass(frozen=True)
class MatrixRow:
    """A run of ports between two segments that share one expected verdict."""

    src: str
    dst: str
    protocol: Protocol
    ports: PortRange | None  # None for ICMP
    decision: Decision

    @property
    def flow_id(self) -> str:
        """Readable id used in test ids: ``home->cluster:tcp/80`` or ``home->cluster:icmp``."""
        suffix = f"/{self.ports}" if self.ports is not None else ""
        return f"{self.src}->{self.dst}:{self.protocol.value}{suffix}"


def statement_ports(stmt: FlowStatement) -> IntervalSet:
    """The ports a statement covers (every port when it names none)."""
    if not stmt.ports:
        return IntervalSet.full()
    return IntervalSet(parse_port_spec(p) for p in stmt.ports)


def resolve_refs(refs: Sequence[str], segments: Sequence[str]) -> list[str]:
    """Segment names a statement's ``from``/``to`` denotes; ``*`` is every segment."""
    if "*" in refs:
        return list(segments)
    return [r for r in refs if r in segments]


def _covers_protocol(stmt: FlowStatement, protocol: Protocol) -> bool:
    return stmt.protocol is Protocol.ANY or stmt.protocol is protocol


class FlowMatrix:
    """The expected verdict of every flow between the site's segments."""

    def __init__(self, segments: Sequence[str], rows: Sequence[MatrixRow]):
        self.segments = tuple(segments)
        self.rows = tuple(rows)
        self._by_key: dict[tuple[str, str, Protocol], list[MatrixRow]] = {}
        for row in self.rows:
            self._by_key.setdefault((row.src, row.dst, row.protocol), []).append(row)

    def pairs(self) -> Iterator[tuple[str, str]]:
        """Every ordered pair of distinct segments."""
        for src in self.segments:
            for dst in self.segments:
                if src != dst:
                    yield src, dst

    def rows_for(self, src: str, dst: str, protocol: Protocol) -> list[MatrixRow]:
        return list(self._by_key.get((src, dst, protocol), ()))

    def decide(self, src: str, dst: str, protocol: Protocol | str, port: int | None = None) -> Decision:
        """The expected decision for one flow.  ``port`` is required for tcp/udp."""
        proto = Protocol(protocol)
        rows = self._by_key.get((src, dst, proto))
        if rows is None:
            raise KeyError(f"no flow {src}->{dst}:{proto.value} in the matrix (unknown segment or same segment)")
        if proto in PORTED:
            if port is None:
                raise ValueError(f"{proto.value} flows need a port")
            for row in rows:
                if row.ports is not None and port in row.ports:
                    return row.decision
            raise ValueError(f"port {port} is outside {PORT_MIN}-{PORT_MAX}")
        return rows[0].decision

    def allowed_ports(self, src: str, dst: str, protocol: Protocol | str) -> IntervalSet:
        """Ports on which ``src`` may open ``protocol`` connections to ``dst``."""
        proto = Protocol(protocol)
        return IntervalSet(
            r.ports for r in self.rows_for(src, dst, proto) if r.ports is not None and r.decision.verdict == "allow"
        )


def _decision(kind: str, index: int, stmt: FlowStatement, verdict: Verdict) -> Decision:
    return Decision(verdict, stmt.control, stmt.section, f"firewall.{kind}[{index}]", stmt.description)


def expand(firewall: Firewall, segments: Sequence[str]) -> FlowMatrix:
    """Expand the policy into a :class:`FlowMatrix` over ``segments`` (pure, total)."""
    default = Decision(firewall.default.verdict, firewall.default.control, firewall.default.section, "firewall.default")
    stmts: list[tuple[Decision, FlowStatement, set[str], set[str]]] = []
    # Denies first so that the first covering statement is the deciding one.
    for kind, items, verdict in (("deny", firewall.deny, "deny"), ("allow", firewall.allow, "allow")):
        for i, st in enumerate(items):
            v: Verdict = "deny" if verdict == "deny" else "allow"
            stmts.append(
                (
                    _decision(kind, i, st, v),
                    st,
                    set(resolve_refs(st.from_, segments)),
                    set(resolve_refs(st.to, segments)),
                )
            )
    rows: list[MatrixRow] = []
    for src in segments:
        for dst in segments:
            if src == dst:
                continue
            for proto in PROTOCOLS:
                applicable = [
                    (d, st)
                    for d, st, froms, tos in stmts
                    if src in froms and dst in tos and _covers_protocol(st, proto)
                ]
                if proto not in PORTED:
                    rows.append(MatrixRow(src, dst, proto, None, applicable[0][0] if applicable else default))
                    continue
                rows.extend(_port_rows(src, dst, proto, applicable, default))
    return FlowMatrix(segments, rows)


def _port_rows(
    src: str, dst: str, proto: Protocol, applicable: list[tuple[Decision, FlowStatement]], default: Decision
) -> list[MatrixRow]:
    covered = [(d, statement_ports(st)) for d, st in applicable]
    cuts = {PORT_MIN, PORT_MAX + 1}
    for _, ports in covered:
        for r in ports:
            cuts.update((r.lo, r.hi + 1))
    bounds = sorted(cuts)
    out: list[MatrixRow] = []
    for lo, nxt in pairwise(bounds):
        decision = next((d for d, ports in covered if lo in ports), default)
        if out and out[-1].decision == decision and out[-1].ports is not None and out[-1].ports.hi == lo - 1:
            out[-1] = MatrixRow(src, dst, proto, PortRange(out[-1].ports.lo, nxt - 1), decision)
        else:
            out.append(MatrixRow(src, dst, proto, PortRange(lo, nxt - 1), decision))
    return out


@dataclass(frozen=True)
class Contradiction:
    """An allow and a deny statement that both cover some flow."""

    allow_index: int
    deny_index: int
    example: str  # a flow id both cover


def contradictions(firewall: Firewall, segments: Sequence[str]) -> list[Contradiction]:
    """Pairs of allow/deny statements that overlap on at least one flow (a design error)."""
    out: list[Contradiction] = []
    for di, deny in enumerate(firewall.deny):
        dfrom, dto = set(resolve_refs(deny.from_, segments)), set(resolve_refs(deny.to, segments))
        for ai, allow in enumerate(firewall.allow):
            afrom, ato = set(resolve_refs(allow.from_, segments)), set(resolve_refs(allow.to, segments))
            pairs = [(s, d) for s in sorted(dfrom & afrom) for d in sorted(dto & ato) if s != d]
            protos = [p for p in PROTOCOLS if _covers_protocol(deny, p) and _covers_protocol(allow, p)]
            if not pairs or not protos:
                continue
            for proto in protos:
                if proto not in PORTED:
                    out.append(Contradiction(ai, di, f"{pairs[0][0]}->{pairs[0][1]}:{proto.value}"))
                    break
                both = statement_ports(deny) & statement_ports(allow)
                if both:
                    out.append(Contradiction(ai, di, f"{pairs[0][0]}->{pairs[0][1]}:{proto.value}/{both.ranges[0].lo}"))
                    break
    return out


def other_protocols(firewall: Firewall, segments: Sequence[str], src: str, dst: str) -> Decision:
    """The expected decision for every protocol but TCP, UDP and ICMP (GRE, ESP, SCTP, ...) from ``src`` to ``dst``.

    Only statements for any protocol (no ``protocol``, no ports) cover them: a deny first, else an
    allow, else the default -- the same precedence as :func:`expand`.
    """
    for kind, items, verdict in (("deny", firewall.deny, "deny"), ("allow", firewall.allow, "allow")):
        for i, st in enumerate(items):
            if st.protocol is not Protocol.ANY or st.ports:
                continue
            if src in resolve_refs(st.from_, segments) and dst in resolve_refs(st.to, segments):
                return _decision(kind, i, st, "deny" if verdict == "deny" else "allow")
    d = firewall.default
    return Decision(d.verdict, d.control, d.section, "firewall.default")
