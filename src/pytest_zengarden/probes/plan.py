"""Which real connections to try, and what each should show (pure): the active side of the firewall checks.

For every row of the flow matrix that crosses the router and carries ports (TCP, UDP), the plan holds a
sample of the row's ports -- its first, middle and last port -- plus every port the design names that
falls inside it.  A probe goes from the source segment's vantage point to the destination segment's
target address.

Two judgements are made of each result:

* against the **design** (the matrix row): allowed flows must *reach* the target (``open``, or
  ``closed`` -- the target itself answered), denied flows must not (``filtered``/``rejected``);
* against the **configuration** (the evaluator): the request crosses the forward chain as a new
  connection, the answer crosses it back as an established one; what the two outcomes predict must
  be what the probe saw.  A disagreement means the router does not do what its configuration says
  (or the configuration read is not the one enforced).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address

from ..analysis.firewall_eval import PROTOCOLS, Box, Context, Firewall, Outcome
from ..analysis.flow_space import endpoints, routed
from ..analysis.intervals import Ints
from ..analysis.matrix import MatrixRow
from ..site.schema import Protocol, Site

EPHEMERAL = Ints.span(32768, 60999)  # Linux' default ip_local_port_range: where a prober's source port lies
NOT_REACHED = frozenset({"filtered", "rejected"})


@dataclass(frozen=True)
class PlannedProbe:
    """One connection attempt standing for a row of the matrix."""

    flow_id: str
    src: str
    dst: str
    protocol: Protocol
    port: int

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}:{self.protocol.value}/{self.port}"


def named_ports(site: Site) -> set[int]:
    """Every port the design names: firewall statements, router services, cluster, ingress, DNS, VPN."""
    ports: set[int] = {22, 53, 80, 443}
    for stmt in (*site.firewall.allow, *site.firewall.deny):
        for spec in stmt.ports:
            text = str(spec)
            lo, _, hi = text.partition("-")
            ports.update({int(lo), int(hi or lo)})
    for svc in site.router.hardening.services.values():
        if svc.port is not None:
            ports.add(svc.port)
    ports.add(site.router.api.port)
    ports.add(site.router.api.ssl_port)
    ports.add(site.cluster.api_port)
    ports.add(site.dns.proxy.port)
    if site.observability is not None:
        ports.add(site.observability.node_exporter_port)
    for seg in site.segments.values():
        if seg.wireguard is not None:
            ports.add(seg.wireguard.listen_port)
    return {p for p in ports if 1 <= p <= 65535}


def sample_ports(row: MatrixRow, named: Iterable[int]) -> list[int]:
    """First, middle and last port of the row, and the named ports inside it (sorted, unique)."""
    assert row.ports is not None
    lo, hi = row.ports.lo, row.ports.hi
    picks = {lo, hi, (lo + hi) // 2}
    picks.update(p for p in named if lo <= p <= hi)
    return sorted(picks)


def probed_rows(site: Site, rows: Iterable[MatrixRow]) -> list[MatrixRow]:
    """Rows a probe can stand for: they cross the router and carry ports."""
    return [r for r in rows if r.ports is not None and routed(site, r.src, r.dst)]


def plan(site: Site, rows: Iterable[MatrixRow]) -> list[PlannedProbe]:
    """The probes for ``rows`` (see the module docstring)."""
    named = named_ports(site)
    out = []
    for row in probed_rows(site, rows):
        for port in sample_ports(row, named):
            out.append(PlannedProbe(row.flow_id, row.src, row.dst, row.protocol, port))
    return out


@dataclass(frozen=True)
class Prediction:
    """What the configuration says a probe will show: ``reached``, ``filtered`` or ``rejected``."""

    expect: str
    request: Outcome
    reply: Outcome | None  # None when the request never got through

    def describe(self) -> str:
        if self.reply is None or not self.request.accepts:
            return f"config {_verb(self.request)} it ({self.request.describe()})"
        if not self.reply.accepts:
            return (
                f"config accepts it ({self.request.describe()}) but {_verb(self.reply)} the answer "
                f"({self.reply.describe()})"
            )
        return f"config accepts it ({self.request.describe()})"


def _verb(outcome: Outcome) -> str:
    return {"accept": "accepts", "drop": "drops", "reject": "rejects", "tarpit": "tarpits"}[outcome.verdict]


def _one(fw: Firewall, ctx: Context, box: Box) -> Outcome:
    """The outcome for ``box``; when it is not uniform, the one covering most of it."""
    regions = fw.evaluate(ctx, box)
    sizes: dict[Outcome, int] = {}
    for r in regions:
        sizes[r.outcome] = sizes.get(r.outcome, 0) + r.box.sport.size * r.box.dport.size
    return max(sizes, key=lambda o: sizes[o])


def predict(site: Site, fw: Firewall, probe: PlannedProbe, src_addr: str, dst_addr: str) -> Prediction:
    """What ``probe`` from ``src_addr`` to ``dst_addr`` should show, by the configuration."""
    eps = endpoints(site, fw.config)
    a, b = eps[probe.src], eps[probe.dst]
    proto = Ints.point(PROTOCOLS[probe.protocol.value])
    src = Ints.point(_int(src_addr))
    dst = Ints.point(_int(dst_addr))
    request_box = Box(src, dst, proto, EPHEMERAL, Ints.point(probe.port))
    request = _one(fw, Context("forward", a.interface, b.interface, "new"), request_box)
    if request.verdict in ("drop", "tarpit"):
        return Prediction("filtered", request, None)
    if request.verdict == "reject":
        return Prediction("rejected", request, None)
    wan = {n for n, s in site.segments.items() if s.kind.value == "wan"}
    nat = frozenset({"srcnat"}) if probe.dst in wan else frozenset()
    reply = _one(
        fw,
        Context("forward", b.interface, a.interface, "established", nat),
        Box(dst, src, proto, Ints.point(probe.port), EPHEMERAL),
    )
    if reply.accepts:
        return Prediction("reached", request, reply)
    # The answer never reaches the prober.  Conntrack saw it, though, so the prober's next UDP datagram
    # belongs to an established connection; a rule rejecting that answers the prober with an ICMP error.
    if probe.protocol is Protocol.UDP:
        later = _one(fw, Context("forward", a.interface, b.interface, "established", nat), request_box)
        if later.verdict == "reject":
            return Prediction("rejected", request, reply)
    return Prediction("filtered", request, reply)


def _int(address: str) -> int:
    return int(IPv4Address(address))


def observed(result: str, listened: bool = False) -> str:
    """A probe result as a firewall verdict: ``reached``, ``filtered``, ``rejected`` or ``error``.

    With our listener on the target port (``listened``) a reached target answers ``open``; ``closed``
    there is a reset or port-unreachable from something else -- a firewall's ``reject``.
    """
    if result == "open" or (result == "closed" and not listened):
        return "reached"
    if result == "closed":
        return "rejected"
    if result in NOT_REACHED:
        return result
    return "error"


@dataclass(frozen=True)
class Observation:
    """A probe that was sent, where from and to, and what came back."""

    probe: PlannedProbe
    src_addr: str
    dst_addr: str
    result: str  # open | closed | filtered | rejected | error | skipped
    detail: str = ""
    listened: bool = False  # our listener served the target port (so only "open" means reached)

    def describe(self) -> str:
        p = self.probe
        return f"probe {self.src_addr} -> {self.dst_addr} {p.protocol.value}/{p.port}: {self.result} ({self.detail})"


def group_by_row(observations: Sequence[Observation]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for o in observations:
        out.setdefault(o.probe.flow_id, []).append(o)
    return out
