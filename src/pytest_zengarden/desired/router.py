"""The router configuration a site implies (pure): what `--provision` converges to and the lab starts from.

Menus of RouterOS records (property names and values as RouterOS prints them).  Every record the
site implies carries a ``comment`` naming its control id, so a later diff can tell managed records
from the operator's own.  Addresses that the site does not know (the WAN link) come from ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..analysis.ports import parse_port_spec
from ..facts.router import SERVICE_PORTS
from ..site.records import expected_records
from ..site.schema import FlowStatement, Protocol, SegmentKind, Site

Records = dict[str, list[dict[str, str]]]
MANAGED = "zg"  # comment prefix of records the plugin manages
TLS_SERVICES = frozenset({"api-ssl", "www-ssl"})  # /ip/service entries that present a certificate


def _comment(control: str, text: str) -> str:
    return f"{MANAGED}:{control} {text}".strip()


def _segment_matchers(site: Site, name: str, direction: str) -> dict[str, str]:
    """RouterOS matchers selecting traffic from (``src``) or to (``dst``) a segment."""
    seg = site.segments[name]
    if seg.kind is SegmentKind.WAN:
        # The internet has no CIDR: it is whatever arrives on / leaves by the WAN interface list.
        wan_lists = [lst for lst, segs in site.router.interface_lists.items() if segs == [name]]
        key = "in-interface-list" if direction == "src" else "out-interface-list"
        if wan_lists:
            return {key: wan_lists[0]}
        return {("in-interface" if direction == "src" else "out-interface"): str(seg.router_interface)}
    return {f"{direction}-address": str(seg.cidr)}


def _expand(refs: Iterable[str], site: Site) -> list[str]:
    refs = list(refs)
    return list(site.segments) if "*" in refs else refs


def _flow_rules(site: Site, stmt: FlowStatement, action: str) -> list[dict[str, str]]:
    rules = []
    for src in _expand(stmt.from_, site):
        for dst in _expand(stmt.to, site):
            if src == dst:
                continue
            rule = {"chain": "forward", "action": action}
            rule |= _segment_matchers(site, src, "src")
            rule |= _segment_matchers(site, dst, "dst")
            if stmt.protocol is not Protocol.ANY:
                rule["protocol"] = stmt.protocol.value
            if stmt.ports:
                rule["dst-port"] = ",".join(str(parse_port_spec(p)) for p in stmt.ports)
            rule["comment"] = _comment(stmt.control, f"{src} -> {dst}")
            rules.append(rule)
    return rules


def firewall_filter(site: Site) -> list[dict[str, str]]:
    """The filter table implementing the site's policy: stateful basics, explicit denies, allows, default."""
    fw = site.firewall
    wan_lists = [
        lst
        for lst, segs in site.router.interface_lists.items()
        if all(site.segments[s].kind is SegmentKind.WAN for s in segs)
    ]
    lan_lists = [lst for lst in site.router.interface_lists if lst not in wan_lists]
    base = _comment(fw.default.control, "stateful")
    rules: list[dict[str, str]] = [
        {"chain": "input", "action": "accept", "connection-state": "established,related,untracked", "comment": base},
        {"chain": "input", "action": "drop", "connection-state": "invalid", "comment": base},
        {"chain": "input", "action": "accept", "protocol": "icmp", "comment": base},
    ]
    for name, seg in site.segments.items():
        if seg.wireguard is not None and wan_lists:
            rules.append(
                {
                    "chain": "input",
                    "action": "accept",
                    "protocol": "udp",
                    "dst-port": str(seg.wireguard.listen_port),
                    "in-interface-list": wan_lists[0],
                    "comment": _comment(seg.control, f"{name} WireGuard endpoint"),
                }
            )
    for name, spec in site.router.hardening.services.items():
        # A service allowed_from the internet admits any address (address= cannot name "the internet"),
        # so the input chain keeps out the segments it does not name and lets the internet in.
        allowed = spec.reachable_from(site.segments)
        wans = [s for s in allowed if site.segments[s].kind is SegmentKind.WAN]
        port = spec.port or SERVICE_PORTS.get(name)
        if not (spec.enabled and wans and wan_lists and port is not None):
            continue
        service = {"chain": "input", "protocol": "tcp", "dst-port": str(port)}
        for other, seg in site.segments.items():
            if other not in allowed and seg.cidr is not None:
                rules.append(
                    service
                    | {
                        "action": "drop",
                        "src-address": str(seg.cidr),
                        "comment": _comment(site.router.hardening.control, f"{name} not from {other}"),
                    }
                )
        rules.append(
            service
            | {
                "action": "accept",
                "in-interface-list": wan_lists[0],
                "comment": _comment(site.router.hardening.control, f"{name} from {', '.join(wans)}"),
            }
        )
    if lan_lists:
        # Services restrict themselves further by address (/ip/service); DNS must answer every LAN.
        rules.append(
            {
                "chain": "input",
                "action": "accept",
                "in-interface-list": lan_lists[0],
                "comment": _comment(site.router.hardening.control, "router services from LAN"),
            }
        )
    rules.append({"chain": "input", "action": "drop", "comment": _comment(fw.default.control, "input default")})
    rules += [
        {
            "chain": "forward",
            "action": "fasttrack-connection",
            "connection-state": "established,related",
            "comment": base,
        },
        {"chain": "forward", "action": "accept", "connection-state": "established,related,untracked", "comment": base},
        {"chain": "forward", "action": "drop", "connection-state": "invalid", "comment": base},
    ]
    for stmt in fw.deny:
        rules += _flow_rules(site, stmt, "drop")
    for stmt in fw.allow:
        rules += _flow_rules(site, stmt, "accept")
    final = "accept" if fw.default.verdict == "allow" else "drop"
    rules.append({"chain": "forward", "action": final, "comment": _comment(fw.default.control, "default")})
    return rules


def menu_controls(site: Site) -> dict[str, str]:
    """The control a menu's settings implement, for records that carry no comment (singletons, services)."""
    r = site.router
    return {
        "/system/identity": r.control,
        "/ip/dns": r.dns.control,
        "/ip/service": r.hardening.control,
        "/ipv6/settings": site.firewall.default.control,
    }


def desired_router(site: Site, extra: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> Records:
    """Every menu the site determines, as records; ``extra`` appends records (e.g. lab-only addresses)."""
    r = site.router
    out: Records = {}
    out["/system/identity"] = [{"name": r.identity}]
    out["/ip/dns"] = [
        {
            "servers": ",".join(map(str, r.dns.servers)),
            "allow-remote-requests": "true" if r.dns.allow_remote_requests else "false",
        }
    ]
    addresses = []
    for name, seg in site.segments.items():
        if seg.router_address is not None and seg.cidr is not None and seg.router_interface:
            addresses.append(
                {
                    "address": f"{seg.router_address}/{seg.cidr.prefixlen}",
                    "interface": seg.router_interface,
                    "comment": _comment(seg.control, f"{name} gateway"),
                }
            )
    out["/ip/address"] = addresses
    out["/interface/list"] = [
        {"name": lst, "comment": _comment(r.control, "interface list")} for lst in r.interface_lists
    ]
    out["/interface/list/member"] = [
        {
            "list": lst,
            "interface": str(site.segments[s].router_interface),
            "comment": _comment(r.control, f"{s} in {lst}"),
        }
        for lst, segs in r.interface_lists.items()
        for s in segs
    ]
    services = []
    for name, spec in r.hardening.services.items():
        rec = {"name": name, "disabled": "false" if spec.enabled else "true"}
        if spec.port is not None:
            rec["port"] = str(spec.port)
        # allowed_from names the segments the service admits; the internet (no CIDR) means any address,
        # which RouterOS writes as an empty address=.
        cidrs = [site.segments[s].cidr for s in spec.reachable_from(site.segments)]
        rec["address"] = "" if None in cidrs else ",".join(map(str, cidrs))
        if name in TLS_SERVICES and spec.enabled and r.hardening.certificate:
            rec["certificate"] = r.hardening.certificate
        services.append(rec)
    out["/ip/service"] = services
    out["/ip/firewall/filter"] = firewall_filter(site)
    # The design has no IPv6: off, so no segment can go around the IPv4 matrix over /ipv6 (which has
    # its own filter).  forward=no takes effect at once; disable-ipv6 also stops link-local and RA.
    out["/ipv6/settings"] = [{"disable-ipv6": "true", "forward": "false"}]
    wan = [lst for lst, segs in r.interface_lists.items() if set(segs) <= set(r.nat.masquerade_to)]
    out["/ip/firewall/nat"] = [
        {
            "chain": "srcnat",
            "action": "masquerade",
            "out-interface-list": lst,
            "comment": _comment(r.nat.control, "masquerade to WAN"),
        }
        for lst in wan
    ]
    out["/ip/firewall/address-list"] = []
    out["/ip/dns/static"] = [
        {
            "name": rec.name,
            "address": str(rec.address),
            "ttl": "30m",
            "comment": _comment(rec.statement.control, rec.why),
        }
        for rec in expected_records(site)
    ]
    proxy = site.dns.proxy
    out["/ip/dns/static"].append(
        {
            "name": proxy.host,
            "address": str(site.blades[proxy.blades[0]].address),
            "ttl": "30m",
            "comment": _comment(proxy.control, "restrictive proxy"),
        }
    )
    for menu, records in (extra or {}).items():
        out.setdefault(menu, []).extend({k: str(v) for k, v in rec.items()} for rec in records)
    return out
