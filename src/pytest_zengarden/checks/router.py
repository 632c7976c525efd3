"""Router configuration against the site: addresses, interface lists, services, NAT, DNS (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import IPv4Network, ip_network

from ..analysis.flow_space import wan_uplink
from ..facts.router import UPLINK_READS, Record, RouterConfig, Uplink, as_bool, interface_list_members, split_list
from ..site.records import ExpectedRecord
from ..site.schema import SegmentKind, Site
from .findings import Finding, finding

# The router menus these checks read, their helpers' included: the live snapshot prints them and
# facts/routeros_defaults.py completes them (tests/test_routeros_defaults.py holds the three together).
READS: tuple[str, ...] = (
    "/ip/address",
    "/interface/list",
    "/interface/list/member",
    "/ip/service",
    "/ip/firewall/nat",
    "/ip/dns/static",
    *UPLINK_READS,
)


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
    """Interface list ``name`` has exactly the interfaces of the segments the site puts in it.

    A WAN segment's interface is the one the router reaches the internet through (``pppoe-out1`` over
    the site's port); the port and any layer under it may be members too, being the same wire.
    """
    expected: set[str] = set()
    uplinks: dict[str, Uplink] = {}
    under: set[str] = set()
    for segment in site.router.interface_lists[name]:
        seg = site.segments[segment]
        if seg.kind is SegmentKind.WAN:
            up = wan_uplink(site, config, segment)
            uplinks[up.interface] = up
            under |= set(up.layers[:-1])
            expected.add(up.interface)
        else:
            expected.add(str(seg.router_interface))
    subject = f"interface list {name}"
    try:
        members = interface_list_members(config, name)
    except ValueError as exc:
        return finding(
            site.router,
            subject,
            False,
            f"{exc}: create it (/interface list add name={name}) with the members {sorted(expected)}",
        )
    if members is None:
        return finding(site.router, subject, False, f"{name!r} is RouterOS's built-in list of every interface")
    actual = set(members)
    missing = sorted(expected - actual)
    extra = sorted(actual - expected - under)
    if not missing and not extra:
        return finding(site.router, subject, True, f"members {sorted(actual)}")
    parts = []
    if missing:
        why = [_missing_uplink(uplinks[m], name, actual) for m in missing if m in uplinks and uplinks[m].stacked]
        parts.append(f"missing {missing}" + (f" ({'; '.join(why)})" if why else ""))
    if extra:
        parts.append(f"unexpected {extra}")
    return finding(site.router, subject, False, "; ".join(parts))


def _missing_uplink(up: Uplink, name: str, actual: set[str]) -> str:
    """Why the interface over a WAN port belongs in the list, and the command that puts it there."""
    held = sorted(set(up.layers[:-1]) & actual)
    under = f"; {', '.join(held)} under it carries none of that traffic itself" if held else ""
    return (
        f"the router reaches the internet through {up.describe()}, so rules matching list {name} see internet "
        f"traffic on {up.interface}{under}; add it: /interface list member add interface={up.interface} list={name}"
    )


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
    segments = spec.reachable_from(site.segments)
    # The internet has no CIDR: a service open to it admits any address, so address= is not narrowed.
    if not any(site.segments[s].cidr is None for s in segments):
        allowed = _service_networks(site, segments)
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


def _out_matcher(config: RouterConfig, rule: Record) -> tuple[str, Callable[[str], bool]]:
    """What a NAT rule's out-interface matchers name, and which interfaces they match (``ValueError``: unknown)."""
    sets: list[tuple[bool, frozenset[str] | None]] = []  # (negated, interfaces; None = every interface)
    if rule.get("out-interface"):
        sets.append((rule["out-interface"].startswith("!"), frozenset({rule["out-interface"].lstrip("!")})))
    if rule.get("out-interface-list"):
        text = rule["out-interface-list"]
        sets.append((text.startswith("!"), interface_list_members(config, text.lstrip("!"))))
    names = [rule[k] for k in ("out-interface", "out-interface-list") if rule.get(k)]

    def matches(iface: str) -> bool:
        return all((members is None or iface in members) != neg for neg, members in sets)

    return (" and ".join(names) or "any interface"), matches


def nat_masquerade(site: Site, config: RouterConfig) -> Finding:
    """Source NAT masquerades only towards the WAN segments, and towards each of them at least once.

    Judged by the interfaces a rule matches, as the router applies it: an ``out-interface-list=WAN`` rule
    masquerades internet traffic only if WAN holds the interface that traffic leaves by (``pppoe-out1``
    when a PPPoE client runs over the site's port), whatever the list is called.
    """
    nat = site.router.nat
    uplinks = {s: wan_uplink(site, config, s) for s in nat.masquerade_to}
    inside = sorted(
        str(seg.router_interface)
        for seg in site.segments.values()
        if seg.kind is not SegmentKind.WAN and seg.router_interface is not None
    )
    covered: set[str] = set()
    good, bad = [], []
    for i, rule in enumerate(config.active("/ip/firewall/nat")):
        if rule.get("chain") != "srcnat" or rule.get("action") not in ("masquerade", "src-nat"):
            continue
        label = f"nat rule #{i} ({rule.get('comment') or rule.get('action')})"
        try:
            towards, matches = _out_matcher(config, rule)
        except ValueError as exc:
            bad.append(f"{label} masquerades towards {rule.get('out-interface-list')}, but {exc}")
            continue
        lan = [iface for iface in inside if matches(iface)]
        wans = [s for s, up in uplinks.items() if matches(up.interface)]
        if lan:
            named = "" if towards in lan else f" (that is {', '.join(lan)})"
            bad.append(f"{label} masquerades towards {towards}{named}, inside the site: only the WAN is masqueraded")
        elif not wans:
            bad.append(f"{label} masquerades towards {towards}{_misses_uplink(uplinks.values(), matches)}")
        else:
            good.append(label)
            covered.update(wans)
    if bad:
        return finding(nat, "srcnat", False, "; ".join(bad))
    missing = [up for s, up in uplinks.items() if s not in covered]
    if missing:
        how = [f" ({up.describe().partition(' (')[2]}" for up in missing if up.stacked]
        return finding(
            nat, "srcnat", False, f"no masquerade towards {sorted(up.interface for up in missing)}{''.join(how)}"
        )
    return finding(nat, "srcnat", True, ", ".join(good))


def _misses_uplink(uplinks: Iterable[Uplink], matches: Callable[[str], bool]) -> str:
    """Why a rule that names the WAN port masquerades nothing: the traffic leaves by the interface over it."""
    for up in uplinks:
        if any(matches(layer) for layer in up.layers[:-1]):
            return (
                f", but the router reaches the internet through {up.describe()}: internet traffic leaves by "
                f"{up.interface}, which the rule does not match, so it is not masqueraded; "
                f"match {up.interface} (out-interface={up.interface}, or add it to the rule's interface list)"
            )
    return ", which no internet traffic leaves by: masquerade towards the WAN only"


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
