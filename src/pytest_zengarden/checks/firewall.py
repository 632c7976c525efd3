"""The router's firewall against the site's policy (pure): flow matrix, router access, inbound rules.

Every check asks the :class:`~pytest_zengarden.analysis.firewall_eval.Firewall` an exhaustive question (all
addresses of both segments, every source and destination port) and reports each part whose verdict
differs from the design with the rule that decided it::

    home -> cluster tcp/22: expected drop, config accepts (rule #10 "Allow Home -> Homelab (SSH,HTTP,HTTPS)")
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..analysis.firewall_eval import Box, Context, Firewall, Outcome, Region, parse_addresses, protocol_name
from ..analysis.flow_space import endpoints, forward_query, routed
from ..analysis.intervals import ADDRESSES, PORTS, PROTOCOL_NUMBERS, Ints
from ..analysis.matrix import Decision, MatrixRow, other_protocols
from ..facts.router import SERVICE_PORTS, UPLINK_READS, RouterConfig, as_bool, split_list
from ..site.schema import Protocol, SegmentKind, Site, Traced
from .findings import Finding, finding

# The router menus these checks read themselves and through the flow space (the WAN's uplink); the
# Firewall they are given reads its own (analysis.firewall_eval.READS).  The live snapshot prints them.
READS: tuple[str, ...] = ("/ip/address", "/ip/dns", "/ip/service", "/ip/firewall/nat", "/ip/upnp", *UPLINK_READS)

VERBS = {"accept": "accepts", "drop": "drops", "reject": "rejects", "tarpit": "tarpits"}
EXPECTED = {"allow": "accept", "deny": "drop"}
TLS_SERVICES = ("api-ssl", "www-ssl")
_MAX_PARTS = 4  # deviations listed per finding; the rest are counted
OTHER_PROTOCOLS = PROTOCOL_NUMBERS - Ints([(1, 1), (6, 6), (17, 17)])  # what the matrix's rows do not cover


def _qualifiers(regions: Sequence[Region], src: Ints, dst: Ints, *, ported: bool) -> str:
    """ " from 192.168.88.5" etc. when a verdict covers only part of the queried space."""
    out = []
    s = Ints([r for reg in regions for r in reg.box.src.ranges])
    d = Ints([r for reg in regions for r in reg.box.dst.ranges])
    if s != src:
        out.append(f"from {s.describe_addresses()}")
    if d != dst:
        out.append(f"to {d.describe_addresses()}")
    if ported:
        sp = Ints([r for reg in regions for r in reg.box.sport.ranges])
        if sp != PORTS:
            out.append(f"from source port {sp.describe_ports()}")
    return (" " + " ".join(out)) if out else ""


def _group(regions: Iterable[Region]) -> dict[Outcome, list[Region]]:
    groups: dict[Outcome, list[Region]] = {}
    for r in regions:
        groups.setdefault(r.outcome, []).append(r)
    return groups


def flow_label(src: str, dst: str, protocol: Protocol, ports: Ints | None) -> str:
    suffix = f"/{ports.describe_ports()}" if ports is not None else ""
    return f"{src} -> {dst} {protocol.value}{suffix}"


def describe_deviations(
    src: str, dst: str, protocol: Protocol, box: Box, regions: Sequence[Region], expected: str
) -> list[str]:
    """One line per outcome that differs from ``expected`` (``accept``/``drop``)."""
    ported = protocol in (Protocol.TCP, Protocol.UDP)
    lines = []
    for outcome, group in _group(r for r in regions if r.outcome.accepts != (expected == "accept")).items():
        ports = Ints([p for reg in group for p in reg.box.dport.ranges]) if ported else None
        lines.append(
            f"{flow_label(src, dst, protocol, ports)}{_qualifiers(group, box.src, box.dst, ported=ported)}: "
            f"expected {expected}, config {VERBS[outcome.verdict]} ({outcome.describe()})"
        )
    return lines


def _summary(outcomes: Iterable[Outcome]) -> str:
    seen = list(dict.fromkeys(o.describe() for o in outcomes))
    more = f" and {len(seen) - _MAX_PARTS} more" if len(seen) > _MAX_PARTS else ""
    return "; ".join(seen[:_MAX_PARTS]) + more


def _join(lines: list[str]) -> str:
    more = [f"... and {len(lines) - _MAX_PARTS} more"] if len(lines) > _MAX_PARTS else []
    return "\n".join(lines[:_MAX_PARTS] + more)


def flow(site: Site, fw: Firewall, row: MatrixRow) -> Finding:
    """One row of the expected flow matrix against the forward chain, over the whole row."""
    statement = row.decision
    if not routed(site, row.src, row.dst):
        raise ValueError(f"{row.flow_id} does not cross the router; its firewall cannot decide it")
    ctx, box = forward_query(site, fw.config, row.src, row.dst, row.protocol, row.ports)
    regions = fw.evaluate(ctx, box)
    expected = EXPECTED[row.decision.verdict]
    wrong = describe_deviations(row.src, row.dst, row.protocol, box, regions, expected)
    if expected == "accept":
        wrong += _refused_answers(site, fw, row.src, row.dst, ctx, regions)
    if wrong:
        # A deviation over the whole row needs no label: the check's subject already names the row.
        ported = row.protocol in (Protocol.TCP, Protocol.UDP)
        whole = f"{flow_label(row.src, row.dst, row.protocol, box.dport if ported else None)}: "
        wrong = [line.removeprefix(whole) for line in wrong]
        return Finding(statement.control, statement.section, row.flow_id, False, _join(wrong))
    verb = VERBS[expected]
    return Finding(
        statement.control,
        statement.section,
        row.flow_id,
        True,
        f"config {verb} as designed ({_summary(r.outcome for r in regions)})",
    )


def _refused_answers(
    site: Site, fw: Firewall, src: str, dst: str, ctx: Context, regions: Sequence[Region]
) -> list[str]:
    """For connections the router accepts, the part of their answers (established, reversed) it refuses."""
    lines = []
    wan = {n for n, s in site.segments.items() if s.kind is SegmentKind.WAN}
    nat = frozenset({"srcnat"}) if dst in wan else frozenset()
    back = Context(ctx.chain, ctx.out_interface, ctx.in_interface, "established", nat)
    for region in regions:
        if not region.outcome.accepts:
            continue
        b = region.box
        reply = Box(b.dst, b.src, b.proto, b.dport, b.sport)
        for outcome, group in _group(r for r in fw.evaluate(back, reply) if not r.outcome.accepts).items():
            ports = Ints([p for reg in group for p in reg.box.sport.ranges])
            proto = Protocol.TCP if 6 in b.proto else Protocol.UDP if 17 in b.proto else Protocol.ICMP
            label = flow_label(src, dst, proto, ports if proto is not Protocol.ICMP else None)
            lines.append(
                f"{label}: the config accepts the connections ({region.outcome.describe()}) but "
                f"{VERBS[outcome.verdict]} their answers ({outcome.describe()})"
            )
    return lines


@dataclass(frozen=True)
class OtherProtocols:
    """Every protocol but TCP, UDP and ICMP between two segments, and the design's decision for them."""

    src: str
    dst: str
    decision: Decision

    @property
    def id(self) -> str:
        return f"{self.src}->{self.dst}:other"


def other_protocol_pairs(site: Site) -> list[OtherProtocols]:
    """Every routed segment pair, with the decision the design makes for its other protocols."""
    segments = list(site.segments)
    return [
        OtherProtocols(a, b, other_protocols(site.firewall, segments, a, b))
        for a in segments
        for b in segments
        if routed(site, a, b)
    ]


def other_flow(site: Site, fw: Firewall, pair: OtherProtocols) -> Finding:
    """GRE, ESP, SCTP and every other protocol but TCP, UDP and ICMP, as the design decides them."""
    eps = endpoints(site, fw.config)
    a, b = eps[pair.src], eps[pair.dst]
    ctx = Context("forward", a.interface, b.interface, "new")
    box = Box(a.addresses, b.addresses, OTHER_PROTOCOLS)
    expected = EXPECTED[pair.decision.verdict]
    lines = []
    wrong = (r for r in fw.evaluate(ctx, box) if r.outcome.accepts != (expected == "accept"))
    for outcome, group in _group(wrong).items():
        protos = Ints([p for reg in group for p in reg.box.proto.ranges])
        where = _qualifiers(group, box.src, box.dst, ported=False)
        lines.append(
            f"{pair.src} -> {pair.dst} (protocols {_protocols(protos)}{where}): "
            f"expected {expected}, config {VERBS[outcome.verdict]} ({outcome.describe()})"
        )
    d = pair.decision
    if lines:
        return Finding(d.control, d.section, pair.id, False, _join(lines))
    return Finding(d.control, d.section, pair.id, True, f"other protocols: config {VERBS[expected]} as designed")


# --- the router itself: input chain and /ip/service ---------------------------------------------------


@dataclass(frozen=True)
class Access:
    """Something on the router a segment may or may not reach."""

    segment: str
    service: str  # /ip/service name, "dns" or "wireguard"
    protocol: Protocol
    port: int

    @property
    def id(self) -> str:
        return f"{self.segment}->router:{self.service}"


def router_addresses(config: RouterConfig) -> Ints:
    """The router's own addresses (where the input chain applies); every address if none is configured."""
    out: list[tuple[int, int]] = []
    for rec in config.active("/ip/address"):
        text = rec.get("address", "")
        if text:
            try:
                out.extend(parse_addresses(text.split("/")[0]).ranges)
            except ValueError:
                continue
    return Ints(out) if out else ADDRESSES


def accesses(site: Site) -> list[tuple[Access, Traced]]:
    """Every (segment, router service) pair the design decides, with the statement deciding it."""
    out: list[tuple[Access, Traced]] = []
    hardening = site.router.hardening
    vantage = [n for n, s in site.segments.items() if s.kind is not SegmentKind.OVERLAY]
    for seg in vantage:
        for name, spec in hardening.services.items():
            port = spec.port or SERVICE_PORTS.get(name)
            if port is None:
                continue
            out.append((Access(seg, name, Protocol.TCP, port), hardening))
        for proto in (Protocol.UDP, Protocol.TCP):
            out.append((Access(seg, f"dns-{proto.value}", proto, 53), site.router.dns))
    for seg_spec in site.segments.values():
        if seg_spec.wireguard is not None:
            for seg in vantage:
                if site.segments[seg].kind is SegmentKind.WAN:
                    out.append((Access(seg, "wireguard", Protocol.UDP, seg_spec.wireguard.listen_port), seg_spec))
    return out


def _expected_reachable(site: Site, access: Access) -> bool:
    kind = site.segments[access.segment].kind
    if access.service.startswith("dns-"):
        return site.router.dns.allow_remote_requests and kind in (SegmentKind.LAN, SegmentKind.VPN)
    if access.service == "wireguard":
        return True
    spec = site.router.hardening.services[access.service]
    return spec.enabled and access.segment in spec.reachable_from(site.segments)


def _service_filter(config: RouterConfig, access: Access) -> tuple[bool, int, Ints, str]:
    """(listening, on which port, addresses the service admits, why) from ``/ip/service``."""
    if access.service.startswith("dns-"):
        dns = config.items("/ip/dns")
        on = bool(dns) and as_bool(dns[0].get("allow-remote-requests"))
        return on, access.port, ADDRESSES, "allow-remote-requests=" + ("yes" if on else "no")
    if access.service == "wireguard":
        return True, access.port, ADDRESSES, "WireGuard endpoint"
    rows = config.find("/ip/service", name=access.service)
    if not rows:
        return False, access.port, ADDRESSES, f"/ip/service has no {access.service}"
    row = rows[0]
    if as_bool(row.get("disabled")):
        return False, access.port, ADDRESSES, f"/ip/service {access.service} is disabled"
    try:
        port = int(row.get("port") or SERVICE_PORTS.get(access.service, access.port))
    except ValueError:
        raise ValueError(f"/ip/service {access.service} has port={row.get('port')!r}, not a number") from None
    moved = f" on port {port}" if port != access.port else ""
    allowed = split_list(row.get("address"))
    if not allowed:
        return True, port, ADDRESSES, f"/ip/service {access.service} admits any address{moved}"
    ranges: list[tuple[int, int]] = []
    for a in allowed:
        try:
            ranges.extend(parse_addresses(a).ranges)
        except ValueError:
            continue  # IPv6 entries admit no IPv4 client
    return True, port, Ints(ranges), f"/ip/service {access.service} admits {row.get('address')}{moved}"


def router_access(site: Site, fw: Firewall, config: RouterConfig, access: Access, statement: Traced) -> Finding:
    """Whether ``access.segment`` can reach ``access.service`` on the router: input chain and service together."""
    ep = endpoints(site, config)[access.segment]
    listening, port, admitted, why = _service_filter(config, access)
    subject = access.id
    expected = _expected_reachable(site, access)
    what = f"{access.service} ({access.protocol.value}/{access.port})"
    ctx = Context("input", ep.interface, None, "new")
    # Where the service really listens: a service moved to another port is reachable there.
    box = Box(
        ep.addresses & admitted,
        router_addresses(config),
        Ints.point(6 if access.protocol is Protocol.TCP else 17),
        PORTS,
        Ints.point(port),
    )
    regions = fw.evaluate(ctx, box) if listening and not box.empty() else []
    accepted = [r for r in regions if r.outcome.accepts]
    if expected:
        if not listening or port != access.port:
            return finding(statement, subject, False, f"expected {what} reachable from {access.segment}; {why}")
        full = Box(ep.addresses, box.dst, box.proto, box.sport, box.dport)
        refused = [r for r in fw.evaluate(ctx, full) if not r.outcome.accepts]
        if not ep.addresses.issubset(admitted):
            return finding(statement, subject, False, f"expected {what} reachable from all of {access.segment}; {why}")
        if refused:
            lines = describe_deviations(access.segment, "router", access.protocol, full, refused, "accept")
            return finding(statement, subject, False, _join(lines))
        return finding(statement, subject, True, f"{what} reachable ({why}; {_summary(r.outcome for r in accepted)})")
    if accepted:
        lines = describe_deviations(access.segment, "router", access.protocol, box, accepted, "drop")
        lines = [f"{access.service}: {line}" for line in lines] if port != access.port else lines
        return finding(statement, subject, False, f"{_join(lines)}; and {why}")
    if not listening:
        reason = why
    elif regions:
        reason = f"input chain: {_summary(r.outcome for r in regions)}"
    else:
        reason = f"{why}, not {access.segment}"
    return finding(statement, subject, True, f"{what} not reachable ({reason})")


def tls_services(site: Site, config: RouterConfig) -> Finding:
    """TLS services present a certificate, and the plugin's transport uses TLS: API-SSL, or REST over HTTPS."""
    hardening = site.router.hardening
    problems = []
    judged = []
    for name in TLS_SERVICES:
        # Every TLS service the router runs, whatever the site says of it (test_service judges that).
        rows = config.find("/ip/service", name=name)
        if not rows or as_bool(rows[0].get("disabled")):
            continue
        judged.append(name)
        cert = rows[0].get("certificate", "") or "none"
        if cert == "none":
            problems.append(f"{name} presents no certificate (anonymous TLS authenticates nobody)")
        elif hardening.certificate and cert != hardening.certificate:
            problems.append(f"{name} presents certificate {cert!r}, expected {hardening.certificate!r}")
    access = site.inventory.router if site.inventory else None
    transport = access.transport if access else "api-ssl"
    if access is not None and transport != "api" and not access.verify_tls:
        problems.append(
            "inventory.router.verify_tls is false: the plugin accepts any certificate, so TLS authenticates "
            "nobody; give inventory.router.ca_file instead"
        )
    if transport == "api":
        problems.append("inventory.router.transport is plain 'api': the password crosses the network in clear text")
    rest = site.router.rest
    if transport == "rest" and rest.scheme == "http":
        # REST authenticates every request with HTTP Basic: over plain HTTP (the www service) that is the
        # password in clear text, on every request.
        problems.append(
            f"inventory.router.transport is 'rest' over router.rest.scheme 'http' (the www service, port "
            f"{rest.port}): every request carries the password in clear text; set router.rest to "
            "{scheme: https, port: 443} (www-ssl with a certificate) or use transport api-ssl"
        )
    if problems:
        return finding(hardening, "TLS services", False, "; ".join(problems))
    via = f"rest over {rest.scheme}" if transport == "rest" else transport
    running = f"{', '.join(judged)} present{'s' if len(judged) == 1 else ''} certificates" if judged else "none runs"
    return finding(hardening, "TLS services", True, f"TLS services: {running}; the plugin uses {via}")


def address_lists(site: Site, fw: Firewall) -> Finding:
    """Every address list a filter rule uses is defined: an undefined one is empty to RouterOS, silently.

    ``src-address-list=vpn-alowed`` with no such list matches nothing (and ``!vpn-alowed`` everything):
    the flow checks judge the rule so, as the router does, and this check says why it is almost surely
    not what was meant.
    """
    statement = site.firewall.default
    undefined = fw.undefined_address_lists()
    if not undefined:
        return finding(statement, "address lists", True, "every address list the filter uses has entries")
    lines = [
        f"{', '.join(map(str, refs))} use{'s' if len(refs) == 1 else ''} address list {name!r}, which has no "
        f"entries: RouterOS matches no address with it (and every address with !{name}); add its entries "
        "(/ip firewall address-list add list=... address=...) or correct the name"
        for name, refs in sorted(undefined.items())
    ]
    note = (
        "\n(a list a script fills at run time has dynamic entries, which an export leaves out: judge the live router)"
    )
    return finding(statement, "address lists", False, _join(lines) + note)


# --- inbound -------------------------------------------------------------------------------------------


def protected_segments(site: Site) -> list[tuple[str, Traced]]:
    """Segments the design closes to every other segment (a deny statement from ``*``)."""
    out: list[tuple[str, Traced]] = []
    for stmt in site.firewall.deny:
        if "*" in stmt.from_:
            for dst in stmt.to:
                if dst in site.segments:
                    out.append((dst, stmt))
    return out


def no_inbound(site: Site, fw: Firewall, segment: str) -> Finding:
    """No other segment can open any connection into ``segment`` (all protocols, every port)."""
    statement = next((s for name, s in protected_segments(site) if name == segment), None)
    if statement is None:
        raise ValueError(f"the design does not close segment {segment!r} to all others")
    eps = endpoints(site, fw.config)
    lines = []
    for src in site.segments:
        if not routed(site, src, segment):
            continue
        ctx = Context("forward", eps[src].interface, eps[segment].interface, "new")
        box = Box(eps[src].addresses, eps[segment].addresses)
        regions = fw.evaluate(ctx, box)
        for outcome, group in _group(r for r in regions if r.outcome.accepts).items():
            protos = Ints([p for reg in group for p in reg.box.proto.ranges])
            lines.append(
                f"{src} -> {segment} (protocols {_protocols(protos)}"
                f"{_ports_note(group)}): expected drop, config accepts ({outcome.describe()})"
            )
    if lines:
        return finding(statement, f"{segment} inbound", False, _join(lines))
    return finding(statement, f"{segment} inbound", True, f"no segment can open connections into {segment}")


def _protocols(protos: Ints) -> str:
    if protos.size == 256:
        return "all"
    if protos == OTHER_PROTOCOLS:
        return "all but tcp,udp,icmp"
    if protos.size <= 4:
        return ",".join(protocol_name(p) for lo, hi in protos.ranges for p in range(lo, hi + 1))
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in protos.ranges[:6]) + (
        ",..." if len(protos.ranges) > 6 else ""
    )


def _ports_note(group: Sequence[Region]) -> str:
    ports = Ints([p for reg in group for p in reg.box.dport.ranges])
    return "" if ports == PORTS else f", ports {ports.describe_ports()}"


def wan_inbound(site: Site, fw: Firewall, config: RouterConfig) -> list[Finding]:
    """The WAN drops every new connection that was not destination-NATed, and nothing is destination-NATed."""
    eps = endpoints(site, config)
    wans = [n for n, s in site.segments.items() if s.kind is SegmentKind.WAN]
    findings = []
    for wan in wans:
        statement: Traced = next(
            (s for s in site.firewall.deny if wan in s.from_ and "*" in s.to), site.firewall.default
        )
        inside = sorted({e.interface for n, e in eps.items() if n != wan and e.interface != eps[wan].interface})
        lines = []
        for out_if in inside:
            ctx = Context("forward", eps[wan].interface, out_if, "new")
            # What leaves by this interface: the addresses of the segments routed there.
            routed_there = Ints([r for e in eps.values() if e.interface == out_if for r in e.addresses.ranges])
            regions = fw.evaluate(ctx, Box(eps[wan].addresses, routed_there))
            for outcome, group in _group(r for r in regions if r.outcome.accepts).items():
                dst = Ints([p for reg in group for p in reg.box.dst.ranges])
                protos = Ints([p for reg in group for p in reg.box.proto.ranges])
                lines.append(
                    f"{wan} -> {out_if} to {dst.describe_addresses()} (protocols {_protocols(protos)}"
                    f"{_ports_note(group)}): expected drop of new connections not destination-NATed, "
                    f"config accepts ({outcome.describe()})"
                )
        for number, rule in enumerate(config.items("/ip/firewall/nat")):
            if as_bool(rule.get("disabled")):
                continue
            # In any chain: a user chain jumped to from dstnat forwards ports just the same.
            if rule.get("action") in ("dst-nat", "netmap", "redirect"):
                label = (
                    f'nat rule #{number} "{rule.get("comment", "")}"' if rule.get("comment") else f"nat rule #{number}"
                )
                lines.append(
                    f"{label} forwards {rule.get('protocol', 'any')}/{rule.get('dst-port', 'any')} to "
                    f"{rule.get('to-addresses', 'the router')}: the design allows no inbound path but the tunnel"
                )
        for upnp in config.items("/ip/upnp"):
            if as_bool(upnp.get("enabled")):
                lines.append("/ip upnp is enabled: devices inside can open port forwards from the internet at will")
        subject = f"{wan} inbound"
        if lines:
            findings.append(finding(statement, subject, False, _join(lines)))
        else:
            findings.append(
                finding(
                    statement, subject, True, f"new connections from {wan} are dropped and nothing is destination-NATed"
                )
            )
    return findings


def flow_rows(site: Site, rows: Iterable[MatrixRow]) -> list[MatrixRow]:
    """The rows the router's firewall decides (flows that cross the router)."""
    return [r for r in rows if routed(site, r.src, r.dst)]


@dataclass(frozen=True)
class Explained:
    """A part of a segment pair's traffic: how the router decides it and what the design expects."""

    src: str
    dst: str
    protocol: Protocol
    ports: Ints | None
    region: Region
    expected: str  # accept | drop

    @property
    def deviates(self) -> bool:
        return self.region.outcome.accepts != (self.expected == "accept")


def explain(site: Site, fw: Firewall, matrix_rows: Iterable[MatrixRow], src: str, dst: str) -> list[Explained]:
    """Every region of ``src -> dst`` traffic (all protocols the matrix covers), split by the design's rows."""
    out: list[Explained] = []
    for row in matrix_rows:
        if row.src != src or row.dst != dst or not routed(site, src, dst):
            continue
        ctx, box = forward_query(site, fw.config, src, dst, row.protocol, row.ports)
        ported = row.protocol in (Protocol.TCP, Protocol.UDP)
        for region in fw.evaluate(ctx, box):
            ports = region.box.dport if ported else None
            out.append(Explained(src, dst, row.protocol, ports, region, EXPECTED[row.decision.verdict]))
    out.sort(key=lambda e: (e.protocol.value, e.ports.first() if e.ports else 0))
    return out
