"""IPv6 is no way around the flow matrix (pure): off on the segments, or its own filter denies what the matrix denies.

RouterOS filters IPv6 in a table of its own (``/ipv6/firewall/filter``) that the ``/ip/firewall`` rules
never see.  A router that gives its segments IPv6 addresses and forwards IPv6 with an empty IPv6 filter
lets every segment reach every other one, whatever the IPv4 matrix says.  The design has no IPv6, so
for each routed pair of segments either

* IPv6 does not cross the router between them: ``/ipv6/settings`` ``disable-ipv6=yes`` or
  ``forward=no``, or a side without routed IPv6 (the router holds no address but link-local on its
  interface: no connected route, nothing an RA could advertise for hosts to autoconfigure); or
* the IPv6 forward chain accepts no new connection the IPv4 matrix denies, for every IPv6 address,
  protocol and port (asked by interface: the site has no IPv6 prefixes).  ICMP rows stand for ICMPv6.

Dropping over IPv6 what the matrix allows is not a deviation: the design serves those flows over IPv4.

Exports omit defaults, and RouterOS 7 ships IPv6 enabled with ``forward=yes`` and a default
``/ipv6/nd`` entry advertising on every interface, so an export that says nothing about ``/ipv6`` is
read with those values (:data:`IPV6_SETTINGS_DEFAULTS`, :data:`ND_DEFAULT_ENTRY`).  The internet side
needs no address of the router's to carry IPv6 (a DHCPv6 client, an upstream RA or a route brings it),
so a WAN segment carries IPv6 whenever the router forwards IPv6.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv6Interface, ip_interface

from ..analysis.firewall_eval import Box, Context, Firewall, Outcome, Region
from ..analysis.flow_space import endpoints, routed
from ..analysis.intervals import ADDRESSES6, PORTS, PROTOCOL_NUMBERS, Ints
from ..analysis.matrix import Decision, MatrixRow, other_protocols
from ..facts.router import Record, RouterConfig, as_bool
from ..facts.routeros_defaults import MENUS as ROUTEROS_DEFAULTS
from ..site.schema import Protocol, SegmentKind, Site
from .findings import Finding, finding
from .site import flow_matrix

# The menus this check reads (the live reader fetches them; an export may omit them at their defaults).
READS: tuple[str, ...] = (
    "/ipv6/settings",
    "/ipv6/address",
    "/ipv6/nd",
    "/ipv6/firewall/filter",
    "/ipv6/firewall/address-list",
)

# RouterOS 7 factory values an export leaves out, from the facts' one table of defaults (a reading
# completed there already holds them; a configuration built from bare records gets them here).
IPV6_SETTINGS_DEFAULTS: Mapping[str, str] = ROUTEROS_DEFAULTS["/ipv6/settings"].defaults
ND_DEFAULT_ENTRY: Mapping[str, str] = ROUTEROS_DEFAULTS["/ipv6/nd"].builtins[0]

ICMPV6 = 58
_RULE_TABLE = "/ipv6/firewall/filter"
_VERBS = {"accept": "accepts", "drop": "drops", "reject": "rejects", "tarpit": "tarpits"}
_MAX_LINES = 4
_LINK_LOCAL = ip_interface("fe80::/10").network
OTHER_PROTOCOLS6 = PROTOCOL_NUMBERS - Ints([(6, 6), (17, 17), (ICMPV6, ICMPV6)])


@dataclass(frozen=True)
class Ipv6Pair:
    """A routed pair of segments and the matrix's decisions for it (rows, and every other protocol)."""

    src: str
    dst: str
    rows: tuple[MatrixRow, ...]
    other: Decision

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}:ipv6"


def ipv6_pairs(site: Site) -> list[Ipv6Pair]:
    """Every ordered pair of segments the router routes between, overlays left out.

    Pods and services ride on the cluster's interface with IPv4 CIDRs only; asked by interface, their
    IPv6 question is the cluster's own.
    """
    matrix = flow_matrix(site)
    segments = list(site.segments)
    plain = [n for n, s in site.segments.items() if s.kind is not SegmentKind.OVERLAY]
    return [
        Ipv6Pair(
            a,
            b,
            tuple(r for r in matrix.rows if r.src == a and r.dst == b),
            other_protocols(site.firewall, segments, a, b),
        )
        for a in plain
        for b in plain
        if routed(site, a, b)
    ]


@dataclass(frozen=True)
class Ipv6State:
    """Whether the router forwards IPv6, and which segments carry routed IPv6 (segment -> why)."""

    off: str | None  # why IPv6 never crosses the router (None: it forwards IPv6)
    carried: Mapping[str, str]
    settings: str  # the settings as judged, for messages


def settings(config: RouterConfig) -> dict[str, str]:
    """``/ipv6/settings`` with RouterOS' factory values for whatever the configuration leaves out."""
    rows = config.items("/ipv6/settings")
    out = dict(IPV6_SETTINGS_DEFAULTS)
    if rows:
        out.update({k: v for k, v in rows[0].items() if v != ""})
    return out


def nd_entries(config: RouterConfig) -> list[Record]:
    """``/ipv6/nd`` with the default entry (``interface=all``) that every router has unless it was changed."""
    rows = list(config.items("/ipv6/nd"))
    if not any(as_bool(r.get("default")) for r in rows):
        rows.insert(0, ND_DEFAULT_ENTRY)
    return rows


def _advertised(config: RouterConfig, interface: str, iface: IPv6Interface, rec: Record) -> str:
    """How hosts on ``interface`` learn the prefix: RA (SLAAC) or only by hand."""
    # RouterOS sets advertise on /64 addresses unless told otherwise; RA needs an active /ipv6/nd entry.
    advertise = as_bool(rec.get("advertise"), default=iface.network.prefixlen == 64)
    nd = [
        r
        for r in nd_entries(config)
        if not as_bool(r.get("disabled")) and r.get("interface", "all") in ("all", interface)
    ]
    if advertise and nd:
        return f", advertised to hosts by RA (/ipv6/nd interface={nd[0].get('interface', 'all')})"
    return ""


def state(site: Site, config: RouterConfig) -> Ipv6State:
    """The router's IPv6 as the checks judge it (defaults applied)."""
    s = settings(config)
    yes_no = {True: "yes", False: "no"}
    shown = f"disable-ipv6={yes_no[as_bool(s['disable-ipv6'])]} forward={yes_no[as_bool(s['forward'], True)]}"
    if as_bool(s["disable-ipv6"]):
        return Ipv6State("/ipv6/settings disable-ipv6=yes: IPv6 is off on the router", {}, shown)
    if not as_bool(s["forward"], default=True):
        return Ipv6State("/ipv6/settings forward=no: the router does not forward IPv6", {}, shown)
    eps = endpoints(site, config)
    carried: dict[str, str] = {}
    for name, seg in site.segments.items():
        if seg.kind is SegmentKind.OVERLAY:
            continue
        iface = eps[name].interface
        if seg.kind is SegmentKind.WAN:
            carried[name] = f"{name} reaches the router's IPv6 through {iface} (the internet needs no router address)"
            continue
        found = []
        for rec in config.items("/ipv6/address"):
            if as_bool(rec.get("disabled")) or as_bool(rec.get("invalid")):
                continue
            if iface not in (rec.get("interface"), rec.get("actual-interface")):
                continue
            try:
                addr = ip_interface(rec.get("address", ""))
            except ValueError:
                raise ValueError(
                    f"{config.source}: /ipv6/address {rec.get('address', '')!r} on {iface} is not an IPv6 address"
                ) from None
            if not isinstance(addr, IPv6Interface) or addr.ip in _LINK_LOCAL:
                continue  # link-local: on every interface, never routed
            pool = f" (from pool {rec['from-pool']})" if rec.get("from-pool") else ""
            found.append(f"{rec.get('address')}{pool} on {iface}{_advertised(config, iface, addr, rec)}")
        if found:
            carried[name] = "; ".join(found)
    return Ipv6State(None, carried, shown)


def _protocols(protos: Ints) -> str:
    if protos == OTHER_PROTOCOLS6:
        return "all but tcp,udp,icmpv6"
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in protos.ranges[:6]) + (
        ",..." if len(protos.ranges) > 6 else ""
    )


def _describe(outcome: Outcome) -> str:
    if outcome.rule is None:
        return f"no rule: the IPv6 {outcome.chain} chain's default accept"
    return f"{_RULE_TABLE} {outcome.describe()}"


def _questions(pair: Ipv6Pair) -> Iterable[tuple[str, Box, Decision]]:
    """(label, IPv6 header box, the matrix's decision) for every row of the pair and its other protocols."""
    every = ADDRESSES6
    for row in pair.rows:
        if row.protocol in (Protocol.TCP, Protocol.UDP):
            assert row.ports is not None
            proto = Ints.point(6 if row.protocol is Protocol.TCP else 17)
            box = Box(every, every, proto, PORTS, Ints.span(row.ports.lo, row.ports.hi))
            yield row.protocol.value, box, row.decision
        else:  # the matrix's ICMP is ICMPv6 here
            yield "icmpv6", Box(every, every, Ints.point(ICMPV6), Ints.point(0), Ints.point(0)), row.decision
    yield "other", Box(every, every, OTHER_PROTOCOLS6, Ints.point(0), Ints.point(0)), pair.other


def segmentation(site: Site, config: RouterConfig, pair: Ipv6Pair) -> Finding:
    """IPv6 from ``pair.src`` to ``pair.dst`` is off, or the IPv6 forward chain denies what the matrix denies."""
    statement = site.firewall.default
    st = state(site, config)
    if st.off is not None:
        return finding(statement, pair.id, True, f"IPv6 does not cross the router: {st.off}")
    missing = [s for s in (pair.src, pair.dst) if s not in st.carried]
    if missing:
        iface = endpoints(site, config)[missing[0]].interface
        return finding(
            statement,
            pair.id,
            True,
            f"IPv6 does not cross the router: {missing[0]} has no routed IPv6 (no address but link-local on {iface})",
        )
    eps = endpoints(site, config)
    ctx = Context("forward", eps[pair.src].interface, eps[pair.dst].interface, "new")
    fw = Firewall(config, family=6)
    # What IPv6 accepts where the matrix denies, grouped by (protocol, denying control, deciding outcome)
    # so that the ports of several matrix rows read as one line.
    wrong: dict[tuple[str, str, Outcome], list[Region]] = {}
    outcomes: list[Outcome] = []
    for label, box, decision in _questions(pair):
        regions = fw.evaluate(ctx, box)
        outcomes += [r.outcome for r in regions]
        if decision.verdict != "deny":
            continue
        for region in regions:
            if region.outcome.accepts:
                wrong.setdefault((label, decision.control, region.outcome), []).append(region)
    lines = [_deviation(pair, label, control, outcome, group) for (label, control, outcome), group in wrong.items()]
    where = f"{st.carried[pair.src]}; {st.carried[pair.dst]}"
    if lines:
        more = [f"... and {len(lines) - _MAX_LINES} more"] if len(lines) > _MAX_LINES else []
        head = f"IPv6 crosses the router ({st.settings}; {where}) and opens what the matrix denies:"
        return finding(statement, pair.id, False, "\n".join([head, *lines[:_MAX_LINES], *more]))
    deciders = list(dict.fromkeys(_describe(o) for o in outcomes if not o.accepts))
    return finding(
        statement,
        pair.id,
        True,
        f"IPv6 crosses the router ({where}) but its forward chain opens nothing the matrix denies "
        f"({'; '.join(deciders[:_MAX_LINES]) or 'the matrix denies nothing here'})",
    )


def _deviation(pair: Ipv6Pair, label: str, control: str, outcome: Outcome, group: list[Region]) -> str:
    """``home -> cluster tcp/1-79,81-442 over IPv6: expected drop (FW-DEFAULT-DENY), config accepts (...)``."""
    if label in ("tcp", "udp"):
        what = f"{label}/{Ints([p for reg in group for p in reg.box.dport.ranges]).describe_ports()}"
    elif label == "other":
        what = f"protocols {_protocols(Ints([p for reg in group for p in reg.box.proto.ranges]))}"
    else:
        what = label
    parts = []
    for side, dim in (("from", "src"), ("to", "dst")):
        addrs = Ints([r for reg in group for r in getattr(reg.box, dim).ranges])
        if addrs != ADDRESSES6:
            parts.append(f" {side} {addrs.describe_addresses(family=6)}")
    return (
        f"{pair.src} -> {pair.dst} {what} over IPv6{''.join(parts)}: expected drop ({control}), "
        f"config {_VERBS[outcome.verdict]} ({_describe(outcome)})"
    )


def ipv6_segmentation(site: Site, config: RouterConfig) -> list[Finding]:
    """One finding per routed segment pair (see :func:`segmentation`)."""
    return [segmentation(site, config, pair) for pair in ipv6_pairs(site)]
