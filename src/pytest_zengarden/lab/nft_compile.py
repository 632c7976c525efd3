"""Compile a RouterOS firewall configuration (filter + NAT) to one nftables script (pure, no I/O).

The lab router is a Linux namespace; to make it *enforce* the site's RouterOS firewall, its rules are
translated to nftables.  The translation is written from RouterOS' documented semantics (design notes
§2.2), not from any other evaluator in this package, so the lab can check that evaluator independently.

Semantics kept (and why the nft looks the way it does):

* ``/ip firewall`` only ever sees IPv4, but the table is ``inet``: every base chain therefore starts
  with ``meta nfproto ipv6 accept`` so IPv6 traffic is untouched, as on the router.
* ``/ipv6 firewall`` is RouterOS' separate IPv6 table: ``family=6`` compiles its filter (with
  ``/ipv6 firewall address-list``) into a table ``ip6 <table>`` of its own, so each family sees only its
  packets.  IPv6 NAT is not emulated (an active ``/ipv6 firewall nat`` rule is refused).
* Built-in chains ``input``/``forward``/``output`` (filter hooks) and ``srcnat``/``dstnat`` (NAT hooks
  postrouting/prerouting) have **policy accept**: RouterOS accepts a packet no rule decided on.
  Any other chain name is a regular nft chain reachable only by ``jump``; filter and NAT user chains
  live in separate RouterOS tables, so they get distinct prefixes (``f_``/``n_``).
* Rules keep print order; disabled, dynamic and invalid (``I`` flag) rules are skipped.
* Every rule gets a ``counter`` and a comment starting with its ``.id`` so ``nft list`` traces back.
* A matcher the compiler cannot represent faithfully raises :class:`CompileError`; nothing is dropped.
* A rule that provably never matches (a positive match on an empty interface list, ``!all``) is emitted
  as a ``#`` script comment, not as a rule: nft has no empty anonymous set.

Documented approximations (RouterOS feature -> what the lab does):

* ``tarpit`` -> ``drop`` (a real tarpit answers SYN with a zero window; a prober would see "open").
* ``fasttrack-connection`` -> counter only: in RouterOS it only *marks* the connection for the fast
  path, packets still on the slow path fall through to the next rule (hence the documented ``accept``
  right after it).  Skipping the fast path does not change any verdict.
* ``add-src-to-address-list``/``add-dst-to-address-list`` -> counter only: the lab does not grow
  address lists at run time, so later packets are judged against the static lists.
* ``reject`` without ``reject-with`` -> ``icmp-network-unreachable`` (RouterOS' default);
  ``tcp-reset`` requires ``protocol=tcp`` (nft would otherwise skip non-TCP packets silently).
* Port matchers without ``protocol`` use ``th sport/dport`` guarded by ``meta l4proto`` of the
  port-carrying protocols, so an ICMP packet never matches by accident of its header bytes.
* ``port`` (either direction) is one concatenated interval set ``sport . dport`` so it stays a
  single rule (splitting it in two would run a ``jump`` or ``log`` twice).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address, IPv4Network, IPv6Address, IPv6Network, NetmaskValueError

from ..analysis.ports import IntervalSet, parse_port_spec
from ..errors import ZengardenError
from ..facts.router import Record, RouterConfig, as_bool, split_list


class CompileError(ZengardenError):
    """A RouterOS rule or list entry that the compiler cannot represent faithfully."""


FILTER_MENU = "/ip/firewall/filter"
NAT_MENU = "/ip/firewall/nat"
ADDRESS_LIST_MENU = "/ip/firewall/address-list"
IFACE_LIST_MENU = "/interface/list"
IFACE_MEMBER_MENU = "/interface/list/member"
FILTER_MENU6 = "/ipv6/firewall/filter"
NAT_MENU6 = "/ipv6/firewall/nat"
ADDRESS_LIST_MENU6 = "/ipv6/firewall/address-list"

# RouterOS table -> {built-in chain: nft base-chain declaration}.
_BASE_CHAINS: dict[str, dict[str, str]] = {
    "filter": {
        "input": "type filter hook input priority filter; policy accept;",
        "forward": "type filter hook forward priority filter; policy accept;",
        "output": "type filter hook output priority filter; policy accept;",
    },
    "nat": {
        "dstnat": "type nat hook prerouting priority dstnat; policy accept;",
        "srcnat": "type nat hook postrouting priority srcnat; policy accept;",
    },
}
_USER_PREFIX = {"filter": "f_", "nat": "n_"}

_COMMON_ACTIONS = frozenset(
    {"accept", "jump", "return", "passthrough", "log", "add-src-to-address-list", "add-dst-to-address-list"}
)
_ACTIONS = {
    "filter": _COMMON_ACTIONS | {"drop", "reject", "tarpit", "fasttrack-connection"},
    "nat": _COMMON_ACTIONS | {"masquerade", "src-nat", "dst-nat", "redirect"},
}

_REJECT_WITH = {
    "icmp-network-unreachable": "reject with icmp type net-unreachable",
    "icmp-net-unreachable": "reject with icmp type net-unreachable",
    "icmp-host-unreachable": "reject with icmp type host-unreachable",
    "icmp-port-unreachable": "reject with icmp type port-unreachable",
    "icmp-protocol-unreachable": "reject with icmp type prot-unreachable",
    "icmp-net-prohibited": "reject with icmp type net-prohibited",
    "icmp-host-prohibited": "reject with icmp type host-prohibited",
    "icmp-admin-prohibited": "reject with icmp type admin-prohibited",
    "tcp-reset": "reject with tcp reset",
}
_DEFAULT_REJECT = "icmp-network-unreachable"
# /ipv6 firewall's reject-with values; err-src-routing-header and headers-too-long (ICMPv6 codes 7, 8)
# have no nft reject type and are refused.
_REJECT_WITH6 = {
    "icmp-no-route": "reject with icmpv6 type no-route",
    "icmp-admin-prohibited": "reject with icmpv6 type admin-prohibited",
    "icmp-not-neighbour": "reject with icmpv6 type 2",
    "icmp-address-unreachable": "reject with icmpv6 type addr-unreachable",
    "icmp-port-unreachable": "reject with icmpv6 type port-unreachable",
    "tcp-reset": "reject with tcp reset",
}
_DEFAULT_REJECT6 = "icmp-no-route"  # the IPv6 analogue of net-unreachable [unverified on a CHR]

# RouterOS protocol names (IANA numbers); tcp/udp/icmp are emitted by name for readable listings.
_PROTOCOLS = {
    "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8, "pup": 12, "udp": 17,
    "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "ipsec-esp": 50,
    "ipsec-ah": 51, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73, "vmtp": 81, "ospf": 89,
    "ipip": 94, "etherip": 97, "encap": 98, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132,
    "udp-lite": 136,
}  # fmt: skip
_BY_NAME = frozenset({"tcp", "udp", "icmp"})
# Protocols with ports -> the nft payload keyword for their header.
_PORT_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "udp-lite": "udplite", "sctp": "sctp", "dccp": "dccp"}
_PORT_GUARD = "meta l4proto { tcp, udp, udplite, sctp, dccp }"

_CONN_STATES = frozenset({"established", "related", "new", "invalid", "untracked"})
_NAT_STATES = {"srcnat": "snat", "dstnat": "dnat"}

# Properties that never restrict which packets a rule matches: bookkeeping, statistics and action
# parameters.  Everything else must be a matcher the compiler understands, or compilation fails.
_NON_MATCHERS = frozenset(
    {
        ".id", ".nextid", "chain", "action", "comment", "disabled", "dynamic", "invalid", "log", "log-prefix",
        "jump-target", "reject-with", "to-addresses", "to-ports", "address-list", "address-list-timeout",
        "bytes", "packets", "hw-offload",
    }
)  # fmt: skip
_MATCHERS = frozenset(
    {
        "src-address", "dst-address", "src-address-list", "dst-address-list", "in-interface", "out-interface",
        "in-interface-list", "out-interface-list", "protocol", "src-port", "dst-port", "port",
        "connection-state", "connection-nat-state",
    }
)  # fmt: skip
# Interface names RouterOS understands as wildcards over interface kinds; Linux has no equivalent.
_IFACE_WILDCARDS = frozenset({"all-ethernet", "all-ppp", "all-vlan", "all-wireless"})
_NO_INTERFACE = frozenset({("filter", "input", "out"), ("filter", "output", "in"), ("nat", "dstnat", "out")})
_IFNAMSIZ = 15  # Linux interface names are at most 15 bytes; nft refuses longer strings.
_COMMENT_MAX = 127  # nft: comments up to 128 bytes; log prefixes up to 127.
_MAX_JUMP_DEPTH = 15  # the kernel's jump stack holds 16 levels including the base chain
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class CompiledRuleset:
    """The compiled script and the name mappings needed to trace ``nft list`` output back to RouterOS."""

    script: str
    table: str
    # (RouterOS table "filter"|"nat", RouterOS chain) -> nft chain name
    chains: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # RouterOS address-list name -> nft set name
    address_sets: Mapping[str, str] = field(default_factory=dict)
    # ``.id`` of rules that can never match and were left out (as script comments), with the reason
    never_matching: Mapping[str, str] = field(default_factory=dict)


def compile_ruleset(
    config: RouterConfig, table: str = "zg_routeros", interfaces: Mapping[str, str] | None = None, *, family: int = 4
) -> str:
    """Return an ``nft -f`` script that atomically replaces table ``inet <table>`` with ``config``'s firewall.

    ``interfaces`` optionally renames RouterOS interfaces to the lab's Linux names (at most 15 bytes).
    ``family=6`` compiles ``/ipv6 firewall filter`` into table ``ip6 <table>`` instead.
    Raises :class:`CompileError` for anything that cannot be represented faithfully.
    """
    return compile_config(config, table, interfaces, family=family).script


def compile_config(
    config: RouterConfig, table: str = "zg_routeros", interfaces: Mapping[str, str] | None = None, *, family: int = 4
) -> CompiledRuleset:
    """Like :func:`compile_ruleset` but also return the RouterOS -> nft name mappings."""
    if not _IDENT.match(table):
        raise CompileError(f"table name {table!r} is not an nft identifier (letters, digits, '_')")
    if family not in (4, 6):
        raise CompileError(f"address family {family!r} is neither 4 nor 6")
    return _Compiler(config, table, dict(interfaces or {}), family).run()


# --- value parsing -------------------------------------------------------------------------------


def _negation(value: str) -> tuple[bool, str]:
    """``"!x"`` -> ``(True, "x")``; RouterOS prints negation as a leading ``!``."""
    text = value.strip()
    if text.startswith("!"):
        return True, text[1:].strip()
    return False, text


def _parse_address(text: str, family: int = 4) -> tuple[int, int]:
    """IP, CIDR or ``a-b`` range -> inclusive integer interval.  Raises ``ValueError`` with the reason."""
    text = text.strip()
    address = IPv4Address if family == 4 else IPv6Address
    network = IPv4Network if family == 4 else IPv6Network
    try:
        if "-" in text:
            lo_s, _, hi_s = text.partition("-")
            lo, hi = int(address(lo_s.strip())), int(address(hi_s.strip()))
            if lo > hi:
                raise ValueError(f"address range {text!r} is empty (start after end)")
            return lo, hi
        # RouterOS normalises host bits away (192.168.88.5/24 is printed as 192.168.88.0/24); so do we.
        net = network(text, strict=False)
    except (AddressValueError, NetmaskValueError) as exc:
        raise ValueError(f"not an IPv{family} address, CIDR or range: {text!r} ({exc})") from None
    return int(net.network_address), int(net.broadcast_address)


def _format_interval(lo: int, hi: int, family: int = 4) -> str:
    """An address interval as nft writes it: a single address, a prefix when aligned, else ``a-b``."""
    address = IPv4Address if family == 4 else IPv6Address
    bits = 32 if family == 4 else 128
    if lo == hi:
        return str(address(lo))
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        return f"{address(lo)}/{bits - (size.bit_length() - 1)}"
    return f"{address(lo)}-{address(hi)}"


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint, non-adjacent intervals: nft refuses overlapping elements in an interval set."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _parse_ports(text: str) -> IntervalSet:
    """``22,80,1000-2000`` -> merged port intervals; raises ``ValueError`` on a bad element."""
    parts = split_list(text)
    if not parts:
        raise ValueError(f"empty port list {text!r}")
    return IntervalSet(parse_port_spec(p) for p in parts)


def _nft_set(items: list[str]) -> str:
    """One element as is; several as an anonymous set."""
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _nft_string(text: str, limit: int, *, log_prefix: bool = False) -> str:
    """A double-quoted nft string.  nft has no escapes inside quotes, so ``"`` becomes ``'``;
    log prefixes also expand ``$var``, so ``$`` becomes ``_`` there.  Truncated to ``limit`` bytes."""
    clean = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in text).replace('"', "'")
    if log_prefix:
        clean = clean.replace("$", "_")
    raw = clean.encode("utf-8")
    if len(raw) > limit:
        clean = raw[:limit].decode("utf-8", errors="ignore")
    return f'"{clean}"'


def _log(rule: Record) -> str:
    """nft log statement for a rule's ``log-prefix`` (none: plain ``log``)."""
    prefix = rule.get("log-prefix", "")
    return f"log prefix {_nft_string(prefix, _COMMENT_MAX, log_prefix=True)}" if prefix else "log"


def _sanitize(name: str, prefix: str, taken: set[str]) -> str:
    """A valid, unique nft identifier for a RouterOS name (which may hold spaces, dashes, unicode)."""
    base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)[:200]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


class _Never(Exception):
    """Raised while compiling a matcher that can never match: the whole rule is left out."""


_ALL = "all"  # sentinel: an interface list containing every interface


# --- the compiler ---------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, config: RouterConfig, table: str, interfaces: dict[str, str], family: int = 4):
        self.config = config
        self.table = table
        self.interfaces = interfaces
        self.family = family
        # RouterOS table -> menu; IPv6 has no NAT here (refused in run()).
        self.menus = {"filter": FILTER_MENU, "nat": NAT_MENU} if family == 4 else {"filter": FILTER_MENU6}
        self.ip = "ip" if family == 4 else "ip6"
        self.set_names: dict[str, str] = {}
        self._set_taken: set[str] = set()
        self.set_elements: dict[str, list[tuple[int, int]]] = {}
        self.chain_names: dict[tuple[str, str], str] = {}
        self._chain_taken: set[str] = set()
        self.never: dict[str, str] = {}
        self._iface_lists = self._read_interface_lists()

    # ---- inputs

    def _read_interface_lists(self) -> tuple[dict[str, set[str]], dict[str, Record] | None]:
        members: dict[str, set[str]] = {}
        for rec in self.config.items(IFACE_MEMBER_MENU):
            if as_bool(rec.get("disabled")):
                continue
            lst, iface = rec.get("list", ""), rec.get("interface", "")
            if not lst or not iface:
                raise CompileError(f"interface-list member {rec.get('.id', '?')}: needs both list and interface")
            members.setdefault(lst, set()).add(iface)
        defs = {r["name"]: r for r in self.config.items(IFACE_LIST_MENU) if r.get("name")}
        # Without an /interface/list menu (hand-written configs) any list named by members exists.
        return members, (defs if self.config.items(IFACE_LIST_MENU) else None)

    def _interface_list(self, name: str, seen: tuple[str, ...] = ()) -> frozenset[str] | str:
        """Member names of an interface list (``_ALL`` for the built-in ``all``)."""
        if name == "all":
            return _ALL
        if name == "none":
            return frozenset()
        if name in ("dynamic", "static"):
            raise ValueError(f"built-in interface list {name!r} depends on run-time state; not representable")
        if name in seen:
            raise ValueError(f"interface list {name!r} includes itself ({' -> '.join((*seen, name))})")
        members, defs = self._iface_lists
        if defs is not None and name not in defs and name not in members:
            raise ValueError(f"unknown interface list {name!r}")
        result = set(members.get(name, ()))
        spec = (defs or {}).get(name, {})
        for inc in split_list(spec.get("include")):
            sub = self._interface_list(inc, (*seen, name))
            if sub == _ALL:
                raise ValueError(f"interface list {name!r} includes 'all'; not representable as a finite set")
            result |= set(sub)
        for exc in split_list(spec.get("exclude")):
            sub = self._interface_list(exc, (*seen, name))
            result = set() if sub == _ALL else result - set(sub)
        return frozenset(result)

    def _linux_iface(self, name: str) -> str:
        if name in _IFACE_WILDCARDS:
            raise ValueError(f"interface wildcard {name!r} has no Linux equivalent")
        linux = self.interfaces.get(name, name)
        if any(c in linux for c in '"\\*$'):
            raise ValueError(f"interface name {linux!r} contains a character nft cannot match literally")
        if not linux or len(linux.encode()) > _IFNAMSIZ:
            raise ValueError(f"interface name {linux!r} cannot exist in Linux (1-{_IFNAMSIZ} bytes); map it")
        return f'"{linux}"'

    def _address_set(self, name: str) -> str:
        if name not in self.set_names:
            self.set_names[name] = _sanitize(name, "al_", self._set_taken)
            self.set_elements.setdefault(name, [])
        return self.set_names[name]

    def _read_address_lists(self) -> None:
        for rec in self.config.items(ADDRESS_LIST_MENU if self.family == 4 else ADDRESS_LIST_MENU6):
            if as_bool(rec.get("disabled")):
                continue  # dynamic entries (added by rules, DNS) are live membership: kept
            lst = rec.get("list", "")
            where = f"address-list entry {rec.get('.id', '?')} ({rec.get('comment', '')})"
            if not lst:
                raise CompileError(f"{where}: has no list name")
            self._address_set(lst)
            try:
                self.set_elements[lst].append(_parse_address(rec.get("address", ""), self.family))
            except ValueError as exc:
                raise CompileError(f"{where}: {exc}") from None

    # ---- chains

    def _chain(self, kind: str, name: str) -> str:
        key = (kind, name)
        if key not in self.chain_names:
            if name in _BASE_CHAINS[kind]:
                self.chain_names[key] = name
                self._chain_taken.add(name)
            else:
                self.chain_names[key] = _sanitize(name, _USER_PREFIX[kind], self._chain_taken)
        return self.chain_names[key]

    def run(self) -> CompiledRuleset:
        if self.family == 6:
            active = [r for r in self.config.items(NAT_MENU6) if not as_bool(r.get("disabled"))]
            if active:
                raise CompileError(
                    f"/ipv6 firewall nat: {len(active)} active rule(s); the lab does not emulate IPv6 NAT"
                )
        self._read_address_lists()
        for kind in self.menus:
            for name in _BASE_CHAINS[kind]:
                self._chain(kind, name)
        bodies: dict[str, list[str]] = {}
        for kind, menu in self.menus.items():
            edges: dict[str, set[str]] = {}
            for chain_name in _BASE_CHAINS[kind]:
                bodies[chain_name] = []
            for pos, rule in enumerate(self.config.items(menu)):
                if any(as_bool(rule.get(flag)) for flag in ("disabled", "dynamic", "invalid")):
                    continue  # RouterOS does not apply these
                rid = rule.get(".id") or f"#{pos}"
                where = f"rule {rid} ({rule.get('comment', '')})"
                try:
                    chain, line, target = self._rule(kind, rule, rid)
                except ValueError as exc:
                    raise CompileError(f"{where}: {exc}") from None
                nft_chain = self._chain(kind, chain)
                bodies.setdefault(nft_chain, [])
                if target is not None:
                    bodies.setdefault(self._chain(kind, target), [])
                    if not line.startswith("#"):  # a never-matching jump is no edge
                        edges.setdefault(chain, set()).add(target)
                bodies[nft_chain].append(line)
            self._check_jumps(kind, edges)
        return CompiledRuleset(
            script=self._emit(bodies),
            table=self.table,
            chains=dict(self.chain_names),
            address_sets=dict(self.set_names),
            never_matching=dict(self.never),
        )

    def _check_jumps(self, kind: str, edges: dict[str, set[str]]) -> None:
        """nft refuses jump loops and nesting deeper than the kernel's jump stack; say so in RouterOS terms."""
        depth_of: dict[str, int] = {}

        def depth(chain: str, path: tuple[str, ...]) -> int:
            if chain in path:
                raise CompileError(f"{kind} chains jump in a loop: {' -> '.join((*path, chain))}")
            if chain not in depth_of:
                depth_of[chain] = 1 + max((depth(t, (*path, chain)) for t in edges.get(chain, ())), default=-1)
            return depth_of[chain]

        for chain in sorted(edges):
            # Loops are refused anywhere; depth only counts from where packets enter (the kernel's view).
            if depth(chain, ()) > _MAX_JUMP_DEPTH and chain in _BASE_CHAINS[kind]:
                raise CompileError(f"{kind} chain {chain!r} nests jumps {depth_of[chain]} deep (nft allows 15)")

    # ---- one rule

    def _rule(self, kind: str, rule: Record, rid: str) -> tuple[str, str, str | None]:
        """(RouterOS chain, nft rule line or ``#`` comment line for a never-matching rule, jump target or None)."""
        chain = rule.get("chain", "")
        if not chain:
            raise ValueError("has no chain")
        action = rule.get("action", "") or "accept"  # RouterOS' default action is accept
        if action not in _ACTIONS[kind]:
            raise ValueError(f"action {action!r} is not supported in the {kind} table")
        unknown = sorted(k for k, v in rule.items() if k not in _NON_MATCHERS | _MATCHERS and v != "")
        if unknown:
            raise ValueError(f"unsupported matcher(s) {', '.join(unknown)}")

        protocol = self._protocol_of(rule)
        target: str | None = None
        if action == "jump":
            target = rule.get("jump-target", "")
            if not target:
                raise ValueError("action jump needs jump-target")
            if target in _BASE_CHAINS[kind]:
                raise ValueError(f"cannot jump to built-in chain {target!r}")
        verdict, note = self._action(kind, chain, action, rule, protocol, target)
        try:
            exprs = self._matchers(kind, chain, rule, protocol)
        except _Never as never:
            self.never[rid] = str(never)
            return chain, f"# {rid}: never matches, {never}", target

        stmts = [*exprs, "counter"]
        if as_bool(rule.get("log")) and action != "log":
            stmts.append(_log(rule))
        if verdict:
            stmts.append(verdict)
        comment = " ".join(p for p in (rid, note, rule.get("comment", "")) if p)
        stmts.append("comment " + _nft_string(comment, _COMMENT_MAX))
        return chain, " ".join(stmts), target

    def _protocol_of(self, rule: Record) -> tuple[bool, str] | None:
        value = rule.get("protocol", "")
        if not value:
            return None
        neg, proto = _negation(value)
        proto = proto.lower()
        if proto.isdigit():
            if not 0 <= int(proto) <= 255:
                raise ValueError(f"protocol number {proto} out of range 0-255")
            # Numbers of named protocols behave as the name (tcp=6 takes tcp dport).
            proto = next((n for n, num in _PROTOCOLS.items() if num == int(proto)), proto)
        elif proto not in _PROTOCOLS:
            raise ValueError(f"unknown protocol {proto!r}")
        return neg, proto

    def _action(
        self, kind: str, chain: str, action: str, rule: Record, protocol: tuple[bool, str] | None, target: str | None
    ) -> tuple[str, str]:
        """(nft verdict/statement, annotation for the comment) for a RouterOS action."""
        positive_proto = protocol[1] if protocol and not protocol[0] else None
        if action in ("accept", "drop", "return"):
            return action, ""
        if action == "jump":
            assert target is not None
            return f"jump {self._chain(kind, target)}", ""
        if action == "tarpit":
            return "drop", "[tarpit as drop]"
        if action == "reject":
            table, default = (_REJECT_WITH, _DEFAULT_REJECT) if self.family == 4 else (_REJECT_WITH6, _DEFAULT_REJECT6)
            how = rule.get("reject-with", "") or default
            if how not in table:
                raise ValueError(f"unknown reject-with {how!r}")
            if how == "tcp-reset" and positive_proto != "tcp":
                # nft would add an implicit `meta l4proto tcp`, silently letting other protocols through.
                raise ValueError("reject-with=tcp-reset needs protocol=tcp")
            return table[how], ""
        if action == "passthrough":
            return "", ""
        if action == "log":
            return _log(rule), ""
        if action == "fasttrack-connection":
            # Only marks the connection; packets on the slow path continue with the next rule.
            return "", "[fasttrack: marks only, slow path continues]"
        if action in ("add-src-to-address-list", "add-dst-to-address-list"):
            return "", f"[{action} not emulated]"
        return self._nat_action(chain, action, rule, positive_proto), ""

    def _nat_action(self, chain: str, action: str, rule: Record, positive_proto: str | None) -> str:
        to_addr, to_ports = rule.get("to-addresses", ""), rule.get("to-ports", "")
        if to_ports and positive_proto not in _PORT_PROTOCOLS:
            raise ValueError("to-ports needs protocol tcp, udp, udp-lite, sctp or dccp")
        ports = ""
        if to_ports:
            pr = parse_port_spec(to_ports)
            ports = f":{pr.lo}" if pr.lo == pr.hi else f":{pr.lo}-{pr.hi}"
        hook_ok = {"masquerade": "srcnat", "src-nat": "srcnat", "dst-nat": "dstnat", "redirect": "dstnat"}
        other = "dstnat" if hook_ok[action] == "srcnat" else "srcnat"
        if chain == other:
            raise ValueError(f"action {action} is not valid in chain {chain}")
        if action == "masquerade":
            return f"masquerade to {ports}" if ports else "masquerade"
        if action == "redirect":
            return f"redirect to {ports}" if ports else "redirect"
        if not to_addr:
            raise ValueError(f"action {action} needs to-addresses (port-only NAT is not supported)")
        lo, hi = _parse_address(to_addr)
        addr = str(IPv4Address(lo)) if lo == hi else f"{IPv4Address(lo)}-{IPv4Address(hi)}"
        return f"{'snat' if action == 'src-nat' else 'dnat'} ip to {addr}{ports}"

    # ---- matchers

    def _matchers(self, kind: str, chain: str, rule: Record, protocol: tuple[bool, str] | None) -> list[str]:
        out: list[str] = []
        if protocol is not None:
            neg, proto = protocol
            shown = proto if proto in _BY_NAME else str(_PROTOCOLS.get(proto, proto))
            out.append(f"meta l4proto {'!= ' if neg else ''}{shown}")
        for prop, field_ in (("src-address", "saddr"), ("dst-address", "daddr")):
            if rule.get(prop):
                neg, text = _negation(rule[prop])
                lo, hi = _parse_address(text, self.family)
                out.append(f"{self.ip} {field_} {'!= ' if neg else ''}{_format_interval(lo, hi, self.family)}")
        for prop, field_ in (("src-address-list", "saddr"), ("dst-address-list", "daddr")):
            if rule.get(prop):
                neg, name = _negation(rule[prop])
                if not name:
                    raise ValueError(f"{prop} has no list name")
                out.append(f"{self.ip} {field_} {'!= ' if neg else ''}@{self._address_set(name)}")
        self._interfaces(kind, chain, rule, out)
        self._ports(rule, protocol, out)
        if rule.get("connection-state"):
            neg, text = _negation(rule["connection-state"])
            states = split_list(text)
            bad = [s for s in states if s not in _CONN_STATES]
            if bad or not states:
                raise ValueError(f"connection-state {text!r}: unknown state(s) {', '.join(bad) or '(none)'}")
            out.append(f"ct state {'!= ' if neg else ''}{_nft_set(sorted(set(states)))}")
        if rule.get("connection-nat-state"):
            neg, text = _negation(rule["connection-nat-state"])
            states = split_list(text)
            bad = [s for s in states if s not in _NAT_STATES]
            if bad or not states:
                raise ValueError(f"connection-nat-state {text!r}: unknown state(s) {', '.join(bad) or '(none)'}")
            kinds = [_NAT_STATES[s] for s in sorted(set(states))]
            bits = kinds[0] if len(kinds) == 1 else "(" + " | ".join(kinds) + ")"
            # Any of the listed NAT kinds applies (!= 0); negated: none of them (== 0).
            out.append(f"ct status & {bits} {'==' if neg else '!='} 0")
        return out

    def _interfaces(self, kind: str, chain: str, rule: Record, out: list[str]) -> None:
        for direction, meta in (("in", "iifname"), ("out", "oifname")):
            # RouterOS flags these invalid: no out-interface before routing (input, dstnat), no in on output.
            # nft would load them and silently never match.
            for prop in (f"{direction}-interface", f"{direction}-interface-list"):
                if rule.get(prop) and (kind, chain, direction) in _NO_INTERFACE:
                    raise ValueError(f"{prop} cannot be used in chain {chain}")
            if rule.get(f"{direction}-interface"):
                neg, name = _negation(rule[f"{direction}-interface"])
                out.append(f"{meta} {'!= ' if neg else ''}{self._linux_iface(name)}")
            prop = f"{direction}-interface-list"
            if rule.get(prop):
                neg, name = _negation(rule[prop])
                members = self._interface_list(name)
                if members == _ALL:
                    if neg:
                        raise _Never(f"{prop}=!all excludes every interface")
                    continue  # matches every interface: no expression needed
                if not members:
                    if not neg:
                        raise _Never(f"{prop}={name} has no members")
                    continue  # "not in an empty list" holds for every interface
                # A set: two RouterOS interfaces mapped to one lab interface must not repeat an element.
                names = sorted({self._linux_iface(m) for m in members})
                out.append(f"{meta} {'!= ' if neg else ''}{_nft_set(names)}")

    def _ports(self, rule: Record, protocol: tuple[bool, str] | None, out: list[str]) -> None:
        props = [p for p in ("src-port", "dst-port", "port") if rule.get(p)]
        if not props:
            return
        if protocol is None:
            header = "th"
            out.append(_PORT_GUARD)  # th reads bytes 0-3 of any L4 header; only ports are meant
        elif not protocol[0] and protocol[1] in _PORT_PROTOCOLS:
            header = _PORT_PROTOCOLS[protocol[1]]
        else:
            raise ValueError(f"{', '.join(props)} need protocol tcp, udp, udp-lite, sctp or dccp")
        for prop in props:
            neg, text = _negation(rule[prop])
            ports = _parse_ports(text)
            op = "!= " if neg else ""
            if prop == "port":
                # Either port in the list: one lookup in a concatenated interval set keeps it one rule.
                elems = [e for r in ports for e in (f"{r} . 0-65535", f"0-65535 . {r}")]
                out.append(f"{header} sport . {header} dport {op}{{ {', '.join(elems)} }}")
            else:
                field_ = "sport" if prop == "src-port" else "dport"
                out.append(f"{header} {field_} {op}{_nft_set([str(r) for r in ports])}")

    # ---- output

    def _emit(self, bodies: dict[str, list[str]]) -> str:
        t = self.table
        nft_family = "inet" if self.family == 4 else "ip6"
        lines = [
            "#!/usr/sbin/nft -f",
            f"# RouterOS {'/ip' if self.family == 4 else '/ipv6'} firewall compiled from {self.config.source}"
            " by pytest-zengarden",
            "# add+delete+define in one transaction: applying twice is idempotent, and atomic.",
            f"add table {nft_family} {t}",
            f"delete table {nft_family} {t}",
            f"table {nft_family} {t} {{",
        ]
        for name in sorted(self.set_names):
            nft_name = self.set_names[name]
            lines.append(f"\tset {nft_name} {{")
            lines.append(f"\t\ttype {'ipv4_addr' if self.family == 4 else 'ipv6_addr'}; flags interval;")
            lines.append(f"\t\tcomment {_nft_string('address-list ' + name, _COMMENT_MAX)}")
            elems = [_format_interval(lo, hi, self.family) for lo, hi in _merge(self.set_elements[name])]
            if elems:
                lines.append(f"\t\telements = {{ {', '.join(elems)} }}")
            lines.append("\t}")
        for (kind, name), nft_name in self.chain_names.items():
            lines.append(f"\tchain {nft_name} {{")
            base = _BASE_CHAINS[kind].get(name)
            if base:
                lines.append(f"\t\t{base}")
                if self.family == 4:
                    lines.append('\t\tmeta nfproto ipv6 accept comment "RouterOS /ip firewall sees IPv4 only"')
            else:
                lines.append(f"\t\tcomment {_nft_string(f'RouterOS {kind} chain {name}', _COMMENT_MAX)}")
            lines.extend(f"\t\t{line}" for line in bodies.get(nft_name, []))
            lines.append("\t}")
        lines.append("}")
        return "\n".join(lines) + "\n"
