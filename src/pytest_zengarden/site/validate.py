"""Semantic validation of a site (pure): what the schema alone cannot see.

Returns ``(loc, message)`` pairs; the loader turns each ``loc`` into the line it was written on.
Checks: overlapping CIDRs, addresses outside their segment, references to undefined segments, blades
and ingress classes, etcd member count and quorum, contradicting firewall statements, duplicate
control ids and duplicate names.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import BaseModel

from ..analysis.matrix import contradictions
from ..analysis.ports import parse_port_spec
from .locations import Loc, format_loc
from .schema import Role, SegmentKind, Site, Traced

Finding = tuple[Loc, str]


def validate_site(site: Site) -> list[Finding]:
    """Every semantic problem in ``site``; empty when the site is consistent."""
    out: list[Finding] = []
    for check in (
        _segments,
        _firewall,
        _router,
        _blades,
        _cluster,
        _ingress,
        _dns,
        _secrets,
        _drills,
        _controls,
        _probes,
    ):
        out.extend(check(site))
    return out


def _segment_of(site: Site, addr: IPv4Address) -> str | None:
    for name, seg in site.segments.items():
        if seg.cidr is not None and seg.kind is not SegmentKind.WAN and addr in seg.cidr:
            return name
    return None


def _segments(site: Site) -> Iterator[Finding]:
    seen: list[tuple[str, IPv4Network]] = []
    for name, seg in site.segments.items():
        loc: Loc = ("segments", name)
        if seg.cidr is not None:
            for other, cidr in seen:
                if seg.cidr.overlaps(cidr):
                    yield (*loc, "cidr"), f"{seg.cidr} overlaps segment '{other}' ({cidr})"
            seen.append((name, seg.cidr))
        if seg.router_address is not None and seg.cidr is not None and seg.router_address not in seg.cidr:
            yield (*loc, "router_address"), f"{seg.router_address} is outside the segment's cidr {seg.cidr}"
        if seg.routed_via is not None:
            via = site.segments.get(seg.routed_via)
            if via is None:
                yield (*loc, "routed_via"), f"unknown segment '{seg.routed_via}'"
            elif via.kind is SegmentKind.OVERLAY:
                yield (*loc, "routed_via"), f"segment '{seg.routed_via}' is itself an overlay"
    if not any(s.kind is SegmentKind.WAN for s in site.segments.values()):
        yield ("segments",), "no segment has kind: wan (the internet side of the router)"
    ifaces: dict[str, str] = {}
    for name, seg in site.segments.items():
        if seg.router_interface is not None:
            if seg.router_interface in ifaces:
                yield (
                    ("segments", name, "router_interface"),
                    f"interface '{seg.router_interface}' is already used by segment '{ifaces[seg.router_interface]}'",
                )
            ifaces[seg.router_interface] = name


def _refs(site: Site, refs: list[str], loc: Loc, allow_star: bool = True) -> Iterator[Finding]:
    for ref in refs:
        if ref == "*" and allow_star:
            continue
        if ref not in site.segments:
            yield loc, f"unknown segment '{ref}'"


def _firewall(site: Site) -> Iterator[Finding]:
    fw = site.firewall
    for kind, items in (("allow", fw.allow), ("deny", fw.deny)):
        for i, st in enumerate(items):
            loc: Loc = ("firewall", kind, i)
            yield from _refs(site, st.from_, (*loc, "from"))
            yield from _refs(site, st.to, (*loc, "to"))
            for j, spec in enumerate(st.ports):
                try:
                    parse_port_spec(spec)
                except ValueError as exc:
                    yield (*loc, "ports", j), str(exc)
    if any(True for _ in _firewall_refs_bad(site)):
        return  # contradictions are meaningless while references are wrong
    names = list(site.segments)
    for c in contradictions(fw, names):
        allow = fw.allow[c.allow_index]
        yield (
            ("firewall", "deny", c.deny_index),
            f"contradicts firewall.allow[{c.allow_index}] ({allow.control}) on {c.example}; "
            "the design cannot both allow and forbid a flow",
        )


def _firewall_refs_bad(site: Site) -> Iterator[str]:
    for st in (*site.firewall.allow, *site.firewall.deny):
        for ref in (*st.from_, *st.to):
            if ref != "*" and ref not in site.segments:
                yield ref
        for spec in st.ports:
            try:
                parse_port_spec(spec)
            except ValueError:
                yield str(spec)


def _router(site: Site) -> Iterator[Finding]:
    r = site.router
    if _segment_of(site, r.address) is None:
        yield ("router", "address"), f"{r.address} is in no segment of the site"
    for lst, refs in r.interface_lists.items():
        yield from _refs(site, refs, ("router", "interface_lists", lst), allow_star=False)
    for svc, spec in r.hardening.services.items():
        yield from _refs(site, spec.allowed_from, ("router", "hardening", "services", svc, "allowed_from"))
    for i, ref in enumerate(r.nat.masquerade_to):
        seg = site.segments.get(ref)
        if seg is None:
            yield ("router", "nat", "masquerade_to", i), f"unknown segment '{ref}'"
        elif seg.kind is not SegmentKind.WAN:
            yield (
                ("router", "nat", "masquerade_to", i),
                f"segment '{ref}' is not a wan segment; masquerade only to WAN",
            )


def _probes(site: Site) -> Iterator[Finding]:
    """Each probe vantage names a segment and lies inside it (the internet's may be anywhere outside)."""
    for name, spec in (site.inventory.probes or {}).items():
        loc: Loc = ("inventory", "probes", name)
        seg = site.segments.get(name)
        if seg is None:
            yield loc, f"unknown segment '{name}'"
        elif seg.kind is SegmentKind.OVERLAY:
            yield loc, f"segment '{name}' is an overlay: its traffic starts on the blades, not on a host of its own"
        elif seg.cidr is not None and spec.host not in seg.cidr:
            yield (*loc, "host"), f"{spec.host} is outside segment '{name}' ({seg.cidr})"


def _blades(site: Site) -> Iterator[Finding]:
    used: dict[IPv4Address, str] = {site.router.address: "the router"}
    bootstraps = []
    for name, blade in site.blades.items():
        loc: Loc = ("blades", name)
        seg = site.segments.get(blade.segment)
        if seg is None:
            yield (*loc, "segment"), f"unknown segment '{blade.segment}'"
        elif seg.cidr is not None and blade.address not in seg.cidr:
            yield (*loc, "address"), f"{blade.address} is outside segment '{blade.segment}' ({seg.cidr})"
        for seg_name, s in site.segments.items():
            if s.router_address == blade.address:
                used.setdefault(blade.address, f"the router's address in '{seg_name}'")
        if blade.address in used:
            yield (*loc, "address"), f"{blade.address} is already used by {used[blade.address]}"
        else:
            used[blade.address] = f"blade '{name}'"
        if blade.router_port is not None and seg is not None and blade.router_port not in seg.ports:
            yield (*loc, "router_port"), f"'{blade.router_port}' is not a port of segment '{blade.segment}' {seg.ports}"
        if blade.bootstrap:
            bootstraps.append(name)
            if Role.CONTROL_PLANE not in blade.roles:
                yield (*loc, "bootstrap"), "only a control-plane blade can bootstrap the cluster"
    if len(bootstraps) > 1:
        yield (
            ("blades", bootstraps[1], "bootstrap"),
            f"only one blade may bootstrap; '{bootstraps[0]}' already does",
        )


def _blade_refs(site: Site, names: list[str], loc: Loc, role: Role | None = None) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield (*loc, i), f"blade '{name}' is listed twice"
        seen.add(name)
        blade = site.blades.get(name)
        if blade is None:
            yield (*loc, i), f"unknown blade '{name}'"
        elif role is not None and role not in blade.roles:
            yield (*loc, i), f"blade '{name}' does not have role {role.value}"


def _cluster(site: Site) -> Iterator[Finding]:
    c = site.cluster
    yield from _blade_refs(site, c.control_plane, ("cluster", "control_plane"), Role.CONTROL_PLANE)
    for name in site.blades_with(Role.CONTROL_PLANE):
        if name not in c.control_plane:
            yield (
                ("blades", name, "roles"),
                f"blade '{name}' has role control-plane but is not in cluster.control_plane",
            )
    yield from _blade_refs(site, c.etcd.members, ("cluster", "etcd", "members"), Role.ETCD)
    n = len(c.etcd.members)
    if n % 2 == 0:
        yield ("cluster", "etcd", "members"), f"etcd needs an odd number of members, got {n}"
    majority = n // 2 + 1
    if c.etcd.quorum != majority:
        yield ("cluster", "etcd", "quorum"), f"the quorum of {n} members is {majority}, got {c.etcd.quorum}"
    for field in ("pod_network", "service_network"):
        ref = getattr(c, field)
        seg = site.segments.get(ref)
        if seg is None:
            yield ("cluster", field), f"unknown segment '{ref}'"
        elif seg.kind is not SegmentKind.OVERLAY:
            yield ("cluster", field), f"segment '{ref}' must have kind: overlay"
    if c.pod_network == c.service_network:
        yield ("cluster", "service_network"), "pods and services need different segments"
    for name in c.pod_security.exemptions.namespaces:
        if c.pod_security.exemptions.namespaces.count(name) > 1:
            yield (
                ("cluster", "pod_security", "exemptions", "namespaces"),
                f"namespace '{name}' is listed twice",
            )
            break
    pool = c.metallb
    home = _segment_of(site, pool.first)
    if home is None or home != _segment_of(site, pool.last):
        yield ("cluster", "metallb"), f"pool {pool.first}-{pool.last} must lie inside one segment"
    for name, blade in site.blades.items():
        if pool.first <= blade.address <= pool.last:
            yield (
                ("cluster", "metallb", "first"),
                f"pool {pool.first}-{pool.last} contains blade '{name}' ({blade.address})",
            )


def _ingress(site: Site) -> Iterator[Finding]:
    pool = site.cluster.metallb
    vips: dict[IPv4Address, str] = {}
    hosts: dict[str, str] = {}
    for name, cls in site.ingress.items():
        loc: Loc = ("ingress", name)
        if not pool.first <= cls.vip <= pool.last:
            yield (*loc, "vip"), f"{cls.vip} is outside the MetalLB pool {pool.first}-{pool.last}"
        if cls.vip in vips:
            yield (*loc, "vip"), f"{cls.vip} is already the VIP of ingress class '{vips[cls.vip]}'"
        vips.setdefault(cls.vip, name)
        if cls.tls.min_version > cls.tls.max_version:
            yield (
                (*loc, "tls"),
                f"min_version {cls.tls.min_version} is above max_version {cls.tls.max_version}",
            )
        for i, host in enumerate(cls.hosts):
            if host in hosts:
                yield (*loc, "hosts", i), f"host '{host}' is already served by ingress class '{hosts[host]}'"
            hosts.setdefault(host, name)


def _dns(site: Site) -> Iterator[Finding]:
    names: set[str] = set()
    for i, zone in enumerate(site.dns.zones):
        if zone.name in names:
            yield ("dns", "zones", i, "name"), f"zone '{zone.name}' is listed twice"
        names.add(zone.name)
        if zone.via_proxy and zone.writer != "external-dns":
            yield ("dns", "zones", i, "via_proxy"), "only external-dns writes through the restrictive proxy"
        if zone.via_proxy and zone.authority != "router":
            yield (
                ("dns", "zones", i, "via_proxy"),
                "the restrictive proxy fronts the router; authority must be router",
            )
    yield from _blade_refs(site, site.dns.proxy.blades, ("dns", "proxy", "blades"))


def _secrets(site: Site) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    for i, ds in enumerate(site.secrets.derived):
        key = (ds.namespace, ds.name)
        if key in seen:
            yield ("secrets", "derived", i), f"DerivedSecret {ds.namespace}/{ds.name} is listed twice"
        seen.add(key)
        for k, spec in ds.keys.items():
            if spec.type == "custom" and spec.length is None:
                yield ("secrets", "derived", i, "keys", k, "length"), "a custom key needs a length (22-256)"


def _drills(site: Site) -> Iterator[Finding]:
    for name, drill in site.drills.items():
        loc: Loc = ("drills", name, "target")
        if drill.kind == "vip-move":
            if drill.target not in site.ingress:
                yield loc, f"unknown ingress class '{drill.target}'"
        elif drill.target not in site.blades:
            yield loc, f"unknown blade '{drill.target}'"
        elif drill.kind == "etcd-member-loss" and drill.target not in site.cluster.etcd.members:
            yield loc, f"blade '{drill.target}' is not an etcd member"


def _walk_traced(obj: Any, loc: Loc) -> Iterator[tuple[Loc, Traced]]:
    if isinstance(obj, Traced):
        yield loc, obj
    if isinstance(obj, BaseModel):
        for field, info in type(obj).model_fields.items():
            yield from _walk_traced(getattr(obj, field), (*loc, info.alias or field))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_traced(v, (*loc, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_traced(v, (*loc, i))


def _controls(site: Site) -> Iterator[Finding]:
    first: dict[str, Loc] = {}
    for loc, traced in _walk_traced(site, ()):
        if traced.control in first:
            yield (
                (*loc, "control"),
                f"control id '{traced.control}' is already used at {format_loc(first[traced.control])}",
            )
        else:
            first[traced.control] = loc


def controls_of(site: Site) -> dict[str, tuple[Loc, Traced]]:
    """Every control id in the site with where it is and the statement it belongs to."""
    return {t.control: (loc, t) for loc, t in _walk_traced(site, ())}
