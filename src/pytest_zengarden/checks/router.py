"""Router configuration against the site: addresses, interface lists, services, NAT, DNS (pure)."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network

from ..facts.router import RouterConfig, as_bool, split_list
from ..site.records import ExpectedRecord
from ..site.schema import Site
from .findings import Finding, finding


def segment_address(site: Site, segment: str, config: RouterConfig) -> Finding:
    """The router holds its gateway address of ``segment`` on the segment's interface."""
    seg = site.segments[segment]
    assert seg.cidr is not None and seg.router_address is not None
    want = f"{seg.router_address}/{seg.cidr.prefixlen}"
    present = [
        r
        for r in config.active("/ip/address")
        if r.get("address") == want and r.get("interface") == seg.router_interface
    ]
    if present:
        return finding(seg, f"{segment} gateway", True, f"{want} on {seg.router_interface}")
    elsewhere = [r.get("interface", "?") for r in config.active("/ip/address") if r.get("address") == want]
    where = f"; it is on {', '.join(elsewhere)}" if elsewhere else ""
    return finding(
        seg, f"{segment} gateway", False, f"expected {want} on {seg.router_interface}, not configured{where}"
    )


def interface_list(site: Site, name: str, config: RouterConfig) -> Finding:
    """Interface list ``name`` has exactly the interfaces of the segments the site puts in it."""
    expected = {site.segments[s].router_interface for s in site.router.interface_lists[name]}
    actual = {r.get("interface") for r in config.active("/interface/list/member") if r.get("list") == name}
    subject = f"interface list {name}"
    if expected == actual:
        return finding(site.router, subject, True, f"members {sorted(x or '' for x in actual)}")
    missing = sorted(x or "" for x in expected - actual)
    extra = sorted(x or "" for x in actual - expected)
    parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
    return finding(site.router, subject, False, "; ".join(parts))


def _service_networks(site: Site, segments: list[str]) -> set[IPv4Network]:
    return {cidr for s in segments if (cidr := site.segments[s].cidr) is not None}


def service(site: Site, name: str, config: RouterConfig) -> Finding:
    """``/ip/service`` entry ``name`` is on or off as designed, on its port, reachable only from its segments."""
    spec = site.router.hardening.services[name]
    statement = site.router.hardening
    subject = f"service {name}"
    rows = config.find("/ip/service", name=name)
    if not rows:
        if not spec.enabled:
            return finding(statement, subject, True, "absent (so not running)")
        return finding(statement, subject, False, "expected enabled, the router has no such service entry")
    row = rows[0]
    enabled = not as_bool(row.get("disabled"))
    if enabled != spec.enabled:
        state = {True: "enabled", False: "disabled"}
        return finding(statement, subject, False, f"expected {state[spec.enabled]}, the router has it {state[enabled]}")
    if not enabled:
        return finding(statement, subject, True, "disabled")
    problems = []
    if spec.port is not None and row.get("port") not in (None, "", str(spec.port)):
        problems.append(f"port {row.get('port')}, expected {spec.port}")
    if spec.allowed_from:
        allowed = _service_networks(site, spec.allowed_from)
        have_raw = split_list(row.get("address"))
        if not have_raw:
            problems.append(f"reachable from any address, expected only {sorted(map(str, allowed))}")
        else:
            try:
                networks = {ip_network(a, strict=False) for a in have_raw}
            except ValueError:
                return finding(statement, subject, False, f"address={row.get('address')!r} is not a list of networks")
            extra = sorted(
                str(n) for n in networks if not isinstance(n, IPv4Network) or not any(n.subnet_of(w) for w in allowed)
            )
            if extra:
                problems.append(f"also reachable from {extra}, expected only {sorted(map(str, allowed))}")
    if problems:
        return finding(statement, subject, False, "; ".join(problems))
    return finding(statement, subject, True, "enabled as designed")


def nat_masquerade(site: Site, config: RouterConfig) -> Finding:
    """Source NAT masquerades only towards the WAN segments, and does so at least once."""
    nat = site.router.nat
    wan_ifaces = {site.segments[s].router_interface for s in nat.masquerade_to}
    wan_lists = {lst for lst, segs in site.router.interface_lists.items() if set(segs) <= set(nat.masquerade_to)}
    good, bad = [], []
    for i, rule in enumerate(config.active("/ip/firewall/nat")):
        if rule.get("chain") != "srcnat" or rule.get("action") not in ("masquerade", "src-nat"):
            continue
        out_if, out_list = rule.get("out-interface"), rule.get("out-interface-list")
        label = f"nat rule #{i} ({rule.get('comment') or rule.get('action')})"
        if (out_if and out_if in wan_ifaces) or (out_list and out_list in wan_lists):
            good.append(label)
        else:
            bad.append(f"{label} masquerades towards {out_if or out_list or 'any interface'}")
    if bad:
        return finding(nat, "srcnat", False, "; ".join(bad))
    if not good:
        return finding(nat, "srcnat", False, f"no masquerade towards {sorted(x or '' for x in wan_ifaces)}")
    return finding(nat, "srcnat", True, ", ".join(good))


def dns_record(record: ExpectedRecord, config: RouterConfig) -> Finding:
    """The router serves exactly ``record`` for its name (A records; disabled entries do not count)."""
    rows = [
        r for r in config.active("/ip/dns/static") if r.get("name") == record.name and r.get("type", "A") in ("A", "")
    ]
    addresses = sorted({r.get("address", "") for r in rows})
    if addresses == [str(record.address)]:
        return finding(record.statement, record.name, True, f"A {record.address} ({record.why})")
    if not addresses:
        return finding(record.statement, record.name, False, f"no A record; expected {record.address} ({record.why})")
    return finding(
        record.statement,
        record.name,
        False,
        f"A {', '.join(addresses)}; expected {record.address} ({record.why})",
    )
