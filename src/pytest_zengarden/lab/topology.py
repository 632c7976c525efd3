"""The lab's network twin as a plan (pure): namespaces, cables, bridges, addresses and routes from the site.

* one namespace for the router, one per blade, a switch namespace per segment with a switch
  (the Zyxel), and a probe host per segment (home, management, cluster, WireGuard client, internet);
* router ports are named as in the site (``ether1``..``ether5``), bridged into the segment's
  ``router_interface`` when that is a bridge; blades hang off the switch unless cabled to a port;
* the internet is a namespace behind ``ether1`` on documentation addresses (TEST-NET-3/-2) that exist
  only inside the lab; the WireGuard client sits behind it and tunnels to the router;
* overlay CIDRs (pods, services) are routed by the router to the first control-plane blade, which
  holds an address of each on its loopback.

Nothing here touches the machine: :mod:`pytest_zengarden.lab.netns` carries the plan out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from ..site.schema import Role, SegmentKind, Site

# Lab-only addressing for what the site leaves open (the WAN link and the VPN client's underlay).
WAN_LINK = IPv4Network("203.0.113.0/24")  # TEST-NET-3: router ether1 .1, internet host .254
VPN_UNDERLAY = IPv4Network("198.51.100.0/24")  # TEST-NET-2: internet host .1, VPN client .2


@dataclass(frozen=True)
class Namespace:
    """A network namespace standing for one box."""

    name: str
    role: str  # router | blade | switch | probe
    hostname: str
    segment: str | None = None


@dataclass(frozen=True)
class Cable:
    """A veth pair: interface ``a_if`` in ``a_ns`` wired to ``b_if`` in ``b_ns``."""

    a_ns: str
    a_if: str
    b_ns: str
    b_if: str


@dataclass(frozen=True)
class Bridge:
    """A Linux bridge in a namespace with its member ports."""

    ns: str
    name: str
    ports: tuple[str, ...]


@dataclass(frozen=True)
class Address:
    ns: str
    iface: str
    address: IPv4Interface


@dataclass(frozen=True)
class Route:
    ns: str
    dst: str  # "default" or a CIDR
    via: IPv4Address


@dataclass(frozen=True)
class WireGuardEnd:
    ns: str
    iface: str
    address: IPv4Interface
    listen_port: int | None
    endpoint: str | None  # "host:port" of the peer, for the client
    allowed_ips: tuple[str, ...]  # what this end routes into the tunnel (client) / accepts from the peer


@dataclass
class LabPlan:
    """Everything `zengarden lab up` creates, in creation order."""

    prefix: str
    namespaces: list[Namespace] = field(default_factory=list)
    cables: list[Cable] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    wireguard: list[WireGuardEnd] = field(default_factory=list)
    forwarding: list[str] = field(default_factory=list)  # namespaces with ip_forward=1
    probes: dict[str, tuple[str, IPv4Address]] = field(default_factory=dict)  # segment -> (ns, address)
    router_ns: str = ""

    def ns(self, name: str) -> str:
        return f"{self.prefix}-{name}"


def _free_host(cidr: IPv4Network, taken: set[IPv4Address], start: int = 10) -> IPv4Address:
    for offset in range(start, cidr.num_addresses - 1):
        candidate = cidr.network_address + offset
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free address left in {cidr} for a lab probe host")


def plan_lab(site: Site, prefix: str = "zg") -> LabPlan:
    """The lab topology for ``site`` (pure)."""
    plan = LabPlan(prefix=prefix)
    router = plan.ns("router")
    plan.router_ns = router
    plan.namespaces.append(Namespace(router, "router", site.router.identity))
    plan.forwarding.append(router)
    pool = site.cluster.metallb
    taken = {b.address for b in site.blades.values()} | {site.router.address}
    taken |= {s.router_address for s in site.segments.values() if s.router_address is not None}
    taken |= {IPv4Address(int(pool.first) + i) for i in range(int(pool.last) - int(pool.first) + 1)}

    wan_name = next(n for n, s in site.segments.items() if s.kind is SegmentKind.WAN)
    wan_router = WAN_LINK.network_address + 1
    wan_host = WAN_LINK.network_address + 254

    for name, seg in site.segments.items():
        if seg.kind is SegmentKind.OVERLAY or seg.kind is SegmentKind.VPN:
            continue
        iface = str(seg.router_interface)
        probe_ns = plan.ns(name)
        plan.namespaces.append(Namespace(probe_ns, "probe", f"probe-{name}", name))
        if seg.kind is SegmentKind.WAN:
            plan.cables.append(Cable(router, iface, probe_ns, "eth0"))
            plan.addresses.append(Address(router, iface, IPv4Interface(f"{wan_router}/{WAN_LINK.prefixlen}")))
            plan.addresses.append(Address(probe_ns, "eth0", IPv4Interface(f"{wan_host}/{WAN_LINK.prefixlen}")))
            plan.routes.append(Route(router, "default", wan_host))
            plan.probes[name] = (probe_ns, wan_host)
            plan.forwarding.append(probe_ns)
            continue
        assert seg.cidr is not None and seg.router_address is not None
        blades_here = [b for b, spec in site.blades.items() if spec.segment == name]
        ports = list(seg.ports)
        if ports:
            # The segment's interface is a bridge over its ports (bridge-homelab over ether2, ether3).
            switch_ns = plan.ns(f"{name}-sw")
            switched = [b for b in blades_here if site.blades[b].router_port in (None, ports[0])]
            plan.namespaces.append(Namespace(switch_ns, "switch", f"switch-{name}", name))
            plan.cables.append(Cable(router, ports[0], switch_ns, "uplink"))
            sw_ports = ["uplink"]
            for b in switched:
                plan.cables.append(Cable(switch_ns, b[:15], plan.ns(b), "eth0"))
                sw_ports.append(b[:15])
            plan.cables.append(Cable(switch_ns, "probe", probe_ns, "eth0"))
            sw_ports.append("probe")
            plan.bridges.append(Bridge(switch_ns, "switch", tuple(sw_ports)))
            for port in ports[1:]:
                direct = [b for b in blades_here if site.blades[b].router_port == port]
                for b in direct:
                    plan.cables.append(Cable(router, port, plan.ns(b), "eth0"))
                if not direct:
                    plan.cables.append(Cable(router, port, plan.ns(f"{name}-{port}"), "eth0"))
                    plan.namespaces.append(Namespace(plan.ns(f"{name}-{port}"), "probe", f"unused-{port}", name))
            if iface not in ports:
                plan.bridges.append(Bridge(router, iface, tuple(ports)))
        else:
            plan.cables.append(Cable(router, iface, probe_ns, "eth0"))
        plan.addresses.append(Address(router, iface, IPv4Interface(f"{seg.router_address}/{seg.cidr.prefixlen}")))
        host = _free_host(seg.cidr, taken)
        taken.add(host)
        plan.addresses.append(Address(probe_ns, "eth0", IPv4Interface(f"{host}/{seg.cidr.prefixlen}")))
        plan.routes.append(Route(probe_ns, "default", seg.router_address))
        plan.probes[name] = (probe_ns, host)
        for b in blades_here:
            spec = site.blades[b]
            plan.namespaces.append(Namespace(plan.ns(b), "blade", b, name))
            plan.addresses.append(Address(plan.ns(b), "eth0", IPv4Interface(f"{spec.address}/{seg.cidr.prefixlen}")))
            plan.routes.append(Route(plan.ns(b), "default", seg.router_address))

    # Overlays (pods, services): routed by the router to the first control-plane blade.
    carriers = site.blades_with(Role.CONTROL_PLANE) or list(site.blades)
    carrier = carriers[0]
    for name, seg in site.segments.items():
        if seg.kind is not SegmentKind.OVERLAY:
            continue
        assert seg.cidr is not None
        # On loopback: this kernel may lack the dummy link type, and lo serves a /32 just as well.
        addr = seg.cidr.network_address + 10
        plan.addresses.append(Address(plan.ns(carrier), "lo", IPv4Interface(f"{addr}/32")))
        plan.routes.append(Route(router, str(seg.cidr), site.blades[carrier].address))
        plan.probes[name] = (plan.ns(carrier), addr)
    plan.forwarding.append(plan.ns(carrier))

    # WireGuard: server on the router, a client behind the internet host.
    for name, seg in site.segments.items():
        if seg.kind is not SegmentKind.VPN or seg.wireguard is None:
            continue
        assert seg.cidr is not None and seg.router_address is not None
        client_ns = plan.ns(name)
        plan.namespaces.append(Namespace(client_ns, "probe", f"probe-{name}", name))
        inet_ns = plan.probes[wan_name][0]
        gw, client_underlay = VPN_UNDERLAY.network_address + 1, VPN_UNDERLAY.network_address + 2
        plan.cables.append(Cable(inet_ns, "vpn0", client_ns, "eth0"))
        plan.addresses.append(Address(inet_ns, "vpn0", IPv4Interface(f"{gw}/{VPN_UNDERLAY.prefixlen}")))
        plan.addresses.append(Address(client_ns, "eth0", IPv4Interface(f"{client_underlay}/{VPN_UNDERLAY.prefixlen}")))
        plan.routes.append(Route(client_ns, "default", gw))
        plan.routes.append(Route(router, str(VPN_UNDERLAY), wan_host))
        client_addr = _free_host(seg.cidr, taken, start=2)
        inside = [str(s.cidr) for n, s in site.segments.items() if s.cidr is not None and n != name]
        # The internet host too (not the router's WAN address, the tunnel's own endpoint): the VPN
        # client's traffic to the internet then crosses the router like a full-tunnel client's does.
        inside.append(f"{wan_host}/32")
        plan.wireguard.append(
            WireGuardEnd(
                router,
                str(seg.router_interface),
                IPv4Interface(f"{seg.router_address}/{seg.cidr.prefixlen}"),
                seg.wireguard.listen_port,
                None,
                (f"{client_addr}/32",),
            )
        )
        plan.wireguard.append(
            WireGuardEnd(
                client_ns,
                "wg0",
                IPv4Interface(f"{client_addr}/{seg.cidr.prefixlen}"),
                None,
                f"{wan_router}:{seg.wireguard.listen_port}",
                tuple(inside),
            )
        )
        plan.probes[name] = (client_ns, client_addr)
    # The internet host can try inbound connections to the site's networks (the router must drop them).
    inet_ns = plan.probes[wan_name][0]
    for seg in site.segments.values():
        if seg.cidr is not None and seg.kind is not SegmentKind.WAN:
            plan.routes.append(Route(inet_ns, str(seg.cidr), wan_router))
    return plan
