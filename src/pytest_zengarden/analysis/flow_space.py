"""Where the site's segments meet the router (pure): interfaces and address sets for firewall questions.

Each segment is an :class:`Endpoint`: the RouterOS interface its traffic enters and leaves the router by,
and the addresses it holds.  Overlay segments (pods, services) ride on the segment they are routed via;
the internet is every routable address that is not the site's.  The site names the port its uplink is
cabled to; the interface the router really uses there (a PPPoE client over the port, a VLAN, the
port's bridge) comes from the router's own configuration (:func:`~pytest_zengarden.facts.router.uplink`),
so the firewall is asked about ``pppoe-out1`` when that is where internet traffic flows.

Flows between two endpoints on the same wire (cluster <-> pods) never cross the router, so the router's
firewall cannot decide them: they are left to the cluster's own policy and are not router checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts.router import RouterConfig, Uplink, uplink
from ..site.schema import Protocol, SegmentKind, Site
from .firewall_eval import PROTOCOLS, Box, Context, parse_addresses
from .intervals import ADDRESSES, PORTS, Ints
from .ports import PortRange

# Never an internet host: "this network", loopback, multicast and the reserved/broadcast block.
_NOT_INTERNET = Ints([r for text in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3") for r in parse_addresses(text).ranges])


@dataclass(frozen=True)
class Endpoint:
    segment: str
    interface: str  # RouterOS interface by which the segment's traffic enters/leaves the router
    addresses: Ints
    carrier: str  # the segment whose wire the traffic is on (itself, or what an overlay is routed via)


def _site_addresses(site: Site) -> Ints:
    ranges: list[tuple[int, int]] = []
    for seg in site.segments.values():
        if seg.cidr is not None:
            ranges.extend(parse_addresses(str(seg.cidr)).ranges)
    return Ints(ranges)


def wan_uplink(site: Site, config: RouterConfig, segment: str) -> Uplink:
    """How the router reaches WAN ``segment``: the interface on top of the site's port (``pppoe-out1``)."""
    port = site.segments[segment].router_interface
    if port is None:
        raise ValueError(f"segment {segment!r} has no router_interface")
    return uplink(config, port)


def segment_interface(site: Site, config: RouterConfig, segment: str) -> str:
    """The interface ``segment``'s traffic enters and leaves the router by, as the router's rules see it."""
    carrier = site.segments[segment].routed_via or segment
    seg = site.segments[carrier]
    if seg.router_interface is None:
        raise ValueError(f"segment {carrier!r} has no router_interface")
    if seg.kind is SegmentKind.WAN:
        return wan_uplink(site, config, carrier).interface
    return seg.router_interface


def endpoints(site: Site, config: RouterConfig) -> dict[str, Endpoint]:
    """Every segment of the site as an :class:`Endpoint` of the router ``config`` describes."""
    out: dict[str, Endpoint] = {}
    inside = _site_addresses(site)
    for name, seg in site.segments.items():
        if seg.kind is SegmentKind.WAN:
            addrs = ADDRESSES - inside - _NOT_INTERNET
        else:
            assert seg.cidr is not None
            addrs = parse_addresses(str(seg.cidr))
        out[name] = Endpoint(name, segment_interface(site, config, name), addrs, seg.routed_via or name)
    return out


def routed(site: Site, src: str, dst: str) -> bool:
    """Whether traffic from ``src`` to ``dst`` crosses the router (so its firewall decides it)."""
    segments = site.segments
    return src != dst and (segments[src].routed_via or src) != (segments[dst].routed_via or dst)


def protocol_ints(protocol: Protocol) -> Ints:
    if protocol is Protocol.ANY:
        raise ValueError("a flow query needs one protocol")
    return Ints.point(PROTOCOLS[protocol.value])


def port_ints(ports: PortRange | None) -> Ints:
    return PORTS if ports is None else Ints.span(ports.lo, ports.hi)


def forward_query(
    site: Site, config: RouterConfig, src: str, dst: str, protocol: Protocol, ports: PortRange | None
) -> tuple[Context, Box]:
    """The forward-chain question "may ``src`` open ``protocol`` connections to ``dst`` on ``ports``?".

    New connections, not destination-NATed, from every address of ``src`` and every source port, on
    the interfaces of the router ``config`` describes.
    """
    eps = endpoints(site, config)
    a, b = eps[src], eps[dst]
    ctx = Context("forward", a.interface, b.interface, "new", frozenset())
    ported = protocol in (Protocol.TCP, Protocol.UDP)
    no_port = Ints.point(0)
    box = Box(
        a.addresses,
        b.addresses,
        protocol_ints(protocol),
        PORTS if ported else no_port,
        port_ints(ports) if ported else no_port,
    )
    return ctx, box
