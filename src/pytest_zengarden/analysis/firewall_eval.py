"""RouterOS firewall filter evaluator (pure, no I/O): which rule decides a flow, exhaustively.

Given a :class:`~pytest_zengarden.facts.router.RouterConfig` (read live over the API/REST or parsed from
an ``.rsc`` export) a :class:`Firewall` answers, for a *context* (chain, in/out interface, connection
state, NAT state) and a *box* of packet headers (source and destination address sets, protocol set,
source and destination port sets), which rule decides every part of the box and with what verdict.
The answer is a partition of the box into :class:`Region`\\ s, like a header-space or Batfish filter
question: a query over a whole segment pair and the whole port space returns every interval with its
deciding rule, and a query about one packet is the special case of a box with one point.

RouterOS semantics (design notes, routeros-notes.md §2.2), written independently of the lab's
nftables compiler (:mod:`pytest_zengarden.lab.nft_compile`), so the two can check each other:

* rules are taken in print order within their chain; disabled, dynamic-disabled and invalid rules are
  skipped; a rule matches when all its matchers match (``!`` negates one matcher);
* ``accept``/``drop``/``reject``/``tarpit`` decide; ``jump`` evaluates the target chain and continues
  after the jump when that chain ends or ``return``\\ s; ``passthrough``, ``log``,
  ``fasttrack-connection`` (it only marks the connection) and ``add-*-to-address-list`` continue;
* a packet no rule of a built-in chain decided is **accepted**;
* port matchers apply to the port-carrying protocols only (``port`` is "either port");
* address lists and interface lists (with ``include``/``exclude``) are resolved from the same
  configuration; the built-in interface lists ``all`` and ``none`` are understood.

A matcher outside this list raises :class:`FirewallError` naming the rule: the evaluator never guesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from ipaddress import (
    AddressValueError,
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    NetmaskValueError,
    ip_address,
)

from ..errors import ZengardenError
from ..facts.router import Record, RouterConfig, as_bool, interface_list_members, split_list
from .intervals import ADDRESSES, EMPTY, PORTS, PROTOCOL_NUMBERS, Ints, address_space

FILTER_MENU = "/ip/firewall/filter"
ADDRESS_LIST_MENU = "/ip/firewall/address-list"
IFACE_LIST_MENU = "/interface/list"
# /ipv6/firewall is a table of its own with the same rule syntax; it judges IPv6 packets only.
FILTER_MENU6 = "/ipv6/firewall/filter"
ADDRESS_LIST_MENU6 = "/ipv6/firewall/address-list"
# family -> (filter, address lists, every table whose rules can add to an address list)
FAMILY_MENUS: dict[int, tuple[str, str, tuple[str, ...]]] = {
    4: (FILTER_MENU, ADDRESS_LIST_MENU, (FILTER_MENU, "/ip/firewall/nat", "/ip/firewall/mangle", "/ip/firewall/raw")),
    6: (
        FILTER_MENU6,
        ADDRESS_LIST_MENU6,
        (FILTER_MENU6, "/ipv6/firewall/nat", "/ipv6/firewall/mangle", "/ipv6/firewall/raw"),
    ),
}
IFACE_MEMBER_MENU = "/interface/list/member"
# Every router menu the evaluator reads (the live snapshot prints them; facts/routeros_defaults.py
# completes them).
READS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [IFACE_LIST_MENU, IFACE_MEMBER_MENU, *(m for f, a, tables in FAMILY_MENUS.values() for m in (f, a, *tables))]
    )
)

BUILTIN_CHAINS = frozenset({"input", "forward", "output"})
TERMINAL = frozenset({"accept", "drop", "reject", "tarpit"})
CONTINUE = frozenset(
    {"passthrough", "log", "fasttrack-connection", "add-src-to-address-list", "add-dst-to-address-list"}
)
CONNECTION_STATES = ("new", "established", "related", "invalid", "untracked")
NAT_STATES = ("srcnat", "dstnat")
MAX_JUMP_DEPTH = 32
CONTINUE_ADDS = frozenset({"add-src-to-address-list", "add-dst-to-address-list"})

PROTOCOLS: dict[str, int] = {
    "icmp": 1, "igmp": 2, "ggp": 3, "ip-encap": 4, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8, "pup": 12,
    "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37,
    "idpr-cmtp": 38, "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47,
    "ipsec-esp": 50, "ipsec-ah": 51, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73,
    "vmtp": 81, "ospf": 89, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103, "vrrp": 112, "l2tp": 115,
    "sctp": 132, "udp-lite": 136,
}  # fmt: skip
PORT_PROTOCOLS = Ints([(6, 6), (17, 17), (33, 33), (132, 132), (136, 136)])  # tcp udp dccp sctp udp-lite
_NAMES = {num: name for name, num in reversed(list(PROTOCOLS.items()))}

_NON_MATCHERS = frozenset(
    {
        ".id", ".nextid", ".about", "chain", "action", "comment", "disabled", "dynamic", "invalid", "log",
        "log-prefix", "jump-target", "reject-with", "address-list", "address-list-timeout", "bytes", "packets",
        "hw-offload", "to-addresses", "to-ports",
    }
)  # fmt: skip


class FirewallError(ZengardenError):
    """The configuration holds something the evaluator cannot judge faithfully (named, never guessed)."""


def protocol_name(number: int) -> str:
    return _NAMES.get(number, str(number))


# --- packet boxes ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    """A product set of packet headers: every combination of the five dimensions."""

    src: Ints = ADDRESSES
    dst: Ints = ADDRESSES
    proto: Ints = PROTOCOL_NUMBERS
    sport: Ints = PORTS
    dport: Ints = PORTS

    def dims(self) -> tuple[Ints, Ints, Ints, Ints, Ints]:
        return (self.src, self.dst, self.proto, self.sport, self.dport)

    def empty(self) -> bool:
        return not (self.src and self.dst and self.proto and self.sport and self.dport)

    def __and__(self, other: Box) -> Box | None:
        dims = []
        for a, b in zip(self.dims(), other.dims(), strict=True):
            both = a & b
            if not both:
                return None
            dims.append(both)
        return Box(*dims)

    def minus(self, other: Box) -> list[Box]:
        """``self`` without ``other`` as disjoint boxes (at most five)."""
        if (self & other) is None:
            return [self]
        out: list[Box] = []
        cur = list(self.dims())
        for i, m in enumerate(other.dims()):
            outside = cur[i] - m
            if outside:
                pieces = list(cur)
                pieces[i] = outside
                out.append(Box(*pieces))
            cur[i] = cur[i] & m
        return out

    @classmethod
    def space(cls, family: int) -> Box:
        """Every packet of an IP family (4 or 6): all addresses, protocols and ports."""
        every = address_space(family)
        return cls(every, every)

    @classmethod
    def packet(cls, src: str, dst: str, protocol: str | int, sport: int = 0, dport: int = 0) -> Box:
        """The box of exactly one packet (ports 0 for protocols without ports); IPv4 or IPv6 addresses."""
        number = protocol if isinstance(protocol, int) else PROTOCOLS[protocol]
        return cls(
            Ints.point(int(ip_address(src))),
            Ints.point(int(ip_address(dst))),
            Ints.point(number),
            Ints.point(sport),
            Ints.point(dport),
        )


@dataclass(frozen=True)
class Context:
    """The parts of a packet's situation that are single values: where it is and its connection's state."""

    chain: str
    in_interface: str | None = None
    out_interface: str | None = None
    state: str = "new"
    nat: frozenset[str] = frozenset()  # NAT applied to the connection: "srcnat", "dstnat"

    def __post_init__(self) -> None:
        if self.state not in CONNECTION_STATES:
            raise ValueError(f"connection state {self.state!r} is not one of {', '.join(CONNECTION_STATES)}")
        bad = set(self.nat) - set(NAT_STATES)
        if bad:
            raise ValueError(f"NAT state(s) {sorted(bad)} not in {NAT_STATES}")


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRef:
    """A filter rule as RouterOS prints it: its number in ``print`` order, ``.id`` and comment."""

    number: int
    id: str
    chain: str
    action: str
    comment: str = ""

    def __str__(self) -> str:
        if self.comment:
            return f'rule #{self.number} "{self.comment}"'
        return f"rule #{self.number} (chain={self.chain} action={self.action})"


@dataclass(frozen=True)
class Outcome:
    """A verdict and the rule that decided it (``None``: no rule did, the built-in chain's default)."""

    verdict: str  # accept | drop | reject | tarpit
    rule: RuleRef | None
    via: tuple[RuleRef, ...] = ()  # the jump rules that led to ``rule``
    chain: str = ""

    @property
    def accepts(self) -> bool:
        return self.verdict == "accept"

    def describe(self) -> str:
        if self.rule is None:
            return f"no rule matches; chain {self.chain} accepts by default"
        text = str(self.rule)
        if self.via:
            text += " via " + ", ".join(f"jump {j}" for j in self.via)
        return text


@dataclass(frozen=True)
class Region:
    """A part of a queried box and how the firewall decides it."""

    box: Box
    outcome: Outcome


# --- parsed rules ------------------------------------------------------------------------------------


def _negation(value: str) -> tuple[bool, str]:
    text = value.strip()
    return (True, text[1:].strip()) if text.startswith("!") else (False, text)


def parse_addresses(text: str, family: int = 4) -> Ints:
    """``1.2.3.4``, ``1.2.3.0/24`` (host bits ignored, as RouterOS does) or ``a-b``; ``ValueError`` otherwise.

    ``family=6`` reads IPv6 the same way (``fd00::1``, ``fd00:77::/64``, ``fd00::1-fd00::9``).
    """
    text = text.strip()
    address = IPv4Address if family == 4 else IPv6Address
    network = IPv4Network if family == 4 else IPv6Network
    try:
        if "-" in text:
            lo_s, _, hi_s = text.partition("-")
            lo, hi = int(address(lo_s.strip())), int(address(hi_s.strip()))
            if lo > hi:
                raise ValueError(f"address range {text!r} runs backwards")
            return Ints.span(lo, hi)
        net = network(text, strict=False)
    except (AddressValueError, NetmaskValueError) as exc:
        raise ValueError(f"{text!r} is not an IPv{family} address, network or range ({exc})") from None
    return Ints.span(int(net.network_address), int(net.broadcast_address))


def _parse_ports(text: str) -> Ints:
    parts = split_list(text)
    if not parts:
        raise ValueError(f"empty port list {text!r}")
    out = []
    for part in parts:
        lo_s, sep, hi_s = part.partition("-")
        try:
            lo, hi = int(lo_s), int(hi_s) if sep else int(lo_s)
        except ValueError:
            raise ValueError(f"{part!r} is not a port or port range") from None
        if not 0 <= lo <= hi <= 65535:
            raise ValueError(f"port range {part!r} is outside 0-65535 or runs backwards")
        out.append((lo, hi))
    return Ints(out)


@dataclass
class _Rule:
    ref: RuleRef
    boxes: list[Box]  # the headers the rule matches, as disjoint boxes
    jump_target: str | None = None
    # (negated, names; None = every interface) per interface matcher; all of them must hold
    in_ifaces: list[tuple[bool, frozenset[str] | None]] = field(default_factory=list)
    out_ifaces: list[tuple[bool, frozenset[str] | None]] = field(default_factory=list)
    states: tuple[bool, frozenset[str]] | None = None
    nat_states: tuple[bool, frozenset[str]] | None = None
    ipsec: tuple[str, str] | None = None  # (direction, policy)

    def applies(self, ctx: Context) -> bool:
        """The rule's single-valued matchers (interfaces, states) against the context."""
        for specs, iface in ((self.in_ifaces, ctx.in_interface), (self.out_ifaces, ctx.out_interface)):
            for neg, names in specs:
                if iface is None:
                    return False  # RouterOS marks such rules invalid (no in-interface on output, ...)
                hit = names is None or iface in names
                if hit == neg:
                    return False
        if self.states is not None:
            neg, states = self.states
            if (ctx.state in states) == neg:
                return False
        if self.nat_states is not None:
            neg, nat = self.nat_states
            if bool(nat & ctx.nat) == neg:
                return False
        # Packets of the lab and of the site's LAN are not IPsec: only ``...,none`` policies match.
        return self.ipsec is None or self.ipsec[1] == "none"


class Firewall:
    """The filter table of one configuration, ready to answer flow questions (parsed once, eagerly).

    ``family=6`` judges ``/ipv6/firewall/filter`` with ``/ipv6/firewall/address-list``: addresses are
    128-bit, everything else (chains, matchers, the default accept) is the same.
    """

    def __init__(self, config: RouterConfig, menu: str | None = None, *, family: int = 4):
        if family not in FAMILY_MENUS:
            raise ValueError(f"address family {family!r} is neither 4 nor 6")
        self.config = config
        self.family = family
        self.universe = address_space(family)
        default_menu, self._address_list_menu, self._growing_menus = FAMILY_MENUS[family]
        self.menu = menu or default_menu
        self._address_lists = self._read_address_lists()
        self._growing = self._lists_grown_at_run_time()
        self._undefined: dict[str, list[RuleRef]] = {}  # address lists rules use and nothing defines
        self.chains: dict[str, list[_Rule]] = {}
        for number, record in enumerate(config.items(self.menu)):
            if any(as_bool(record.get(flag)) for flag in ("disabled", "invalid")):
                continue
            ref = RuleRef(
                number,
                record.get(".id", f"#{number}"),
                record.get("chain", ""),
                record.get("action", "") or "accept",
                record.get("comment", ""),
            )
            try:
                rule = self._rule(ref, record)
            except ValueError as exc:
                raise FirewallError(f"{config.source}: filter {ref}: {exc}") from None
            self.chains.setdefault(ref.chain, []).append(rule)
        self._check_jumps()

    # ---- inputs

    def _read_address_lists(self) -> dict[str, Ints]:
        lists: dict[str, list[tuple[int, int]]] = {}
        for rec in self.config.items(self._address_list_menu):
            if as_bool(rec.get("disabled")):
                continue
            name, address = rec.get("list", ""), rec.get("address", "")
            if not name or not address:
                raise FirewallError(
                    f"{self.config.source}: address-list entry {rec.get('.id', '?')} needs list and address"
                )
            try:
                lists.setdefault(name, []).extend(parse_addresses(address, self.family).ranges)
            except ValueError:
                raise FirewallError(
                    f"{self.config.source}: address-list {name!r} entry {address!r} is not an address, network or "
                    "range (DNS names are resolved by the router at run time; the evaluator cannot judge them)"
                ) from None
        return {name: Ints(ranges) for name, ranges in lists.items()}

    def interface_list(self, name: str) -> frozenset[str] | None:
        """Members of an interface list (``None`` for the built-in ``all``: every interface)."""
        return interface_list_members(self.config, name)

    def _lists_grown_at_run_time(self) -> dict[str, str]:
        """Address lists a firewall rule adds to (port knocking, blacklists) -> the first such rule."""
        out: dict[str, str] = {}
        for menu in self._growing_menus:
            for number, rec in enumerate(self.config.items(menu)):
                if as_bool(rec.get("disabled")) or rec.get("action") not in CONTINUE_ADDS:
                    continue
                name = rec.get("address-list", "")
                table = menu.rsplit("/", 1)[-1]
                out.setdefault(name, f"{table} rule #{number}" + (f' "{rec["comment"]}"' if rec.get("comment") else ""))
        return out

    def address_list(self, name: str) -> Ints:
        """The addresses of a list (a list nobody filled matches nothing, as RouterOS accepts such rules).

        A list the firewall itself grows at run time has no fixed contents: judging it by what it holds
        now would be a guess, so it is an error naming the rule that grows it.
        """
        if name in self._growing:
            raise ValueError(
                f"address list {name!r} grows at run time ({self._growing[name]} adds to it), so the flows "
                "this rule matches cannot be known from the configuration"
            )
        return self._address_lists.get(name, EMPTY)

    def undefined_address_lists(self) -> dict[str, tuple[RuleRef, ...]]:
        """Address lists a rule uses that have no entry: RouterOS matches them as empty, silently.

        Evaluated as RouterOS does (empty), but almost always a typo or a list a script was meant to fill,
        so the checks report them (:func:`pytest_zengarden.checks.firewall.address_lists`).
        """
        return {name: tuple(refs) for name, refs in self._undefined.items()}

    # ---- one rule

    def _rule(self, ref: RuleRef, rec: Record) -> _Rule:
        if not ref.chain:
            raise ValueError("has no chain")
        action = ref.action
        if action not in TERMINAL | CONTINUE | {"jump", "return"}:
            raise ValueError(f"action {action!r} is not a filter action")
        unknown = sorted(
            k
            for k, v in rec.items()
            if v != ""
            and k not in _NON_MATCHERS
            and k
            not in {
                "src-address", "dst-address", "src-address-list", "dst-address-list", "protocol", "src-port",
                "dst-port", "port", "in-interface", "out-interface", "in-interface-list", "out-interface-list",
                "connection-state", "connection-nat-state", "ipsec-policy",
            }
        )  # fmt: skip
        if unknown:
            raise ValueError(f"matcher(s) {', '.join(unknown)} are not evaluated; its verdicts would be guesses")
        rule = _Rule(ref, [])
        if action == "jump":
            rule.jump_target = rec.get("jump-target", "")
            if not rule.jump_target:
                raise ValueError("action jump needs jump-target")
            if rule.jump_target in BUILTIN_CHAINS:
                raise ValueError(f"cannot jump to built-in chain {rule.jump_target!r}")

        base = Box(self.universe, self.universe)
        if rec.get("protocol"):
            neg, text = _negation(rec["protocol"])
            name = text.lower()
            if name.isdigit() and 0 <= int(name) <= 255:
                number = int(name)
            elif name in PROTOCOLS:
                number = PROTOCOLS[name]
            else:
                raise ValueError(f"unknown protocol {text!r}")
            point = Ints.point(number)
            base = replace(base, proto=PROTOCOL_NUMBERS - point if neg else point)
        for prop, dim in (("src-address", "src"), ("dst-address", "dst")):
            if rec.get(prop):
                neg, text = _negation(rec[prop])
                addrs = parse_addresses(text, self.family)
                base = replace(base, **{dim: self.universe - addrs if neg else addrs})
        for prop, dim in (("src-address-list", "src"), ("dst-address-list", "dst")):
            if rec.get(prop):
                neg, name = _negation(rec[prop])
                addrs = self.address_list(name)
                if name not in self._address_lists:
                    self._undefined.setdefault(name, []).append(ref)
                base = replace(base, **{dim: (getattr(base, dim) - addrs) if neg else (getattr(base, dim) & addrs)})
        boxes = [base]
        port_props = [p for p in ("src-port", "dst-port", "port") if rec.get(p)]
        if port_props:
            proto = base.proto & PORT_PROTOCOLS
            if not proto:
                raise ValueError(f"{', '.join(port_props)} need a protocol with ports (tcp, udp, ...)")
            boxes = [replace(base, proto=proto)]
            for prop in port_props:
                neg, text = _negation(rec[prop])
                ports = _parse_ports(text)
                boxes = [piece for b in boxes for piece in _port_match(b, prop, ports, neg)]
        rule.boxes = [b for b in boxes if not b.empty()]

        for direction in ("in", "out"):
            iface, lst = rec.get(f"{direction}-interface"), rec.get(f"{direction}-interface-list")
            specs = rule.in_ifaces if direction == "in" else rule.out_ifaces
            if iface:
                neg, name = _negation(iface)
                specs.append((neg, frozenset({name})))
            if lst:
                neg, name = _negation(lst)
                specs.append((neg, self.interface_list(name)))
        rule.states = _state_set(rec, "connection-state", CONNECTION_STATES)
        rule.nat_states = _state_set(rec, "connection-nat-state", NAT_STATES)
        if rec.get("ipsec-policy"):
            direction, _, policy = rec["ipsec-policy"].partition(",")
            if direction not in ("in", "out") or policy not in ("ipsec", "none"):
                raise ValueError(f"ipsec-policy {rec['ipsec-policy']!r} is not in|out,ipsec|none")
            rule.ipsec = (direction, policy)
        return rule

    def _check_jumps(self) -> None:
        def visit(chain: str, path: tuple[str, ...]) -> None:
            if chain in path:
                raise FirewallError(
                    f"{self.config.source}: filter chains jump in a loop: {' -> '.join((*path, chain))}"
                )
            if len(path) > MAX_JUMP_DEPTH:
                raise FirewallError(f"{self.config.source}: jumps nest deeper than {MAX_JUMP_DEPTH}")
            for rule in self.chains.get(chain, []):
                if rule.jump_target:
                    visit(rule.jump_target, (*path, chain))

        for chain in sorted(self.chains):
            visit(chain, ())

    # ---- questions

    def evaluate(self, ctx: Context, box: Box) -> list[Region]:
        """Partition ``box`` by deciding rule: every packet of it lies in exactly one returned region."""
        if ctx.chain not in BUILTIN_CHAINS:
            raise ValueError(
                f"packets enter only built-in chains ({', '.join(sorted(BUILTIN_CHAINS))}), not {ctx.chain!r}"
            )
        if box.empty():
            return []
        decided, returned = self._run(ctx.chain, ctx, [box], ())
        default = Outcome("accept", None, (), ctx.chain)
        return decided + [Region(b, default) for b in returned]

    def decide(self, ctx: Context, packet: Box) -> Outcome:
        """The outcome for one packet (a box of one point, see :meth:`Box.packet`)."""
        regions = self.evaluate(ctx, packet)
        if len(regions) != 1:
            raise ValueError("decide() takes a box holding exactly one packet")
        return regions[0].outcome

    def _run(
        self, chain: str, ctx: Context, boxes: list[Box], via: tuple[RuleRef, ...]
    ) -> tuple[list[Region], list[Box]]:
        decided: list[Region] = []
        returned: list[Box] = []
        remaining = boxes
        for rule in self.chains.get(chain, ()):
            if not remaining:
                break
            if not rule.boxes or not rule.applies(ctx):
                continue
            matched: list[Box] = []
            rest: list[Box] = []
            for b in remaining:
                hit = False
                for m in rule.boxes:
                    inter = b & m
                    if inter is not None:
                        matched.append(inter)
                        hit = True
                if not hit:
                    rest.append(b)
                    continue
                pieces = [b]
                for m in rule.boxes:
                    pieces = [p for piece in pieces for p in piece.minus(m)]
                rest.extend(pieces)
            if not matched:
                continue
            action = rule.ref.action
            if action in CONTINUE:
                continue  # the packet goes on to the next rule unchanged
            remaining = rest
            if action in TERMINAL:
                outcome = Outcome(action, rule.ref, via, chain)
                decided.extend(Region(m, outcome) for m in matched)
            elif action == "return":
                returned.extend(matched)
            else:  # jump
                assert rule.jump_target is not None
                sub_decided, sub_returned = self._run(rule.jump_target, ctx, matched, (*via, rule.ref))
                decided.extend(sub_decided)
                remaining = remaining + sub_returned
        returned.extend(remaining)
        return decided, returned


def _state_set(rec: Record, prop: str, known: Sequence[str]) -> tuple[bool, frozenset[str]] | None:
    """A ``connection-state``-like matcher as (negated, states); ``None`` when the rule does not set it."""
    if not rec.get(prop):
        return None
    neg, text = _negation(rec[prop])
    states = frozenset(split_list(text))
    bad = sorted(states - set(known))
    if bad or not states:
        raise ValueError(f"{prop} {text!r}: unknown state(s) {', '.join(bad) or '(none)'}")
    return neg, states


def _port_match(box: Box, prop: str, ports: Ints, neg: bool) -> list[Box]:
    """The part of ``box`` a port matcher selects, as disjoint boxes."""
    if prop == "src-port":
        return [replace(box, sport=(box.sport - ports) if neg else (box.sport & ports))]
    if prop == "dst-port":
        return [replace(box, dport=(box.dport - ports) if neg else (box.dport & ports))]
    # port: either port is in the list; negated: neither is.
    if neg:
        return [replace(box, sport=box.sport - ports, dport=box.dport - ports)]
    return [replace(box, sport=box.sport & ports), replace(box, sport=box.sport - ports, dport=box.dport & ports)]
