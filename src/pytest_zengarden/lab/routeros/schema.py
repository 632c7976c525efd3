"""The menus the emulator knows: their properties, kinds, defaults, keys and references (pure data).

Only what the plugin and the lab need is modelled, but every modelled property behaves like RouterOS:
an unknown property is refused (``unknown parameter x``) instead of being stored silently, so a typo
in provisioning fails in the lab exactly as it would on the router.  Messages marked *unverified*
in the design notes are kept in one place (:data:`MSG`) so they can be corrected after a CHR check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address, ip_interface
from typing import Literal

PropKind = Literal["str", "bool", "int", "enum", "flags", "ports"]
RefKind = Literal["interface", "interface-list", "bridge", "wireguard"]
MenuKind = Literal["list", "fixed", "singleton", "readonly"]


class RouterOsError(Exception):
    """A RouterOS command failure: ``!trap`` on the API, a 4xx JSON error on REST.

    ``category`` follows the API manual (0 missing item/command, 1 argument value failure,
    2 interrupted, 4 general failure); ``None`` sends no ``=category=`` word.
    """

    def __init__(self, message: str, category: int | None = None):
        super().__init__(message)
        self.message = message
        self.category = category


# Error texts.  The first three are documented or seen in client test suites; the others are
# [unverified] guesses at RouterOS wording, kept here so a CHR check can fix them in one place.
MSG = {
    "no_item": "no such item",
    "no_cmd": "no such command or directory ({})",
    "unknown_param": "unknown parameter {}",
    "duplicate": "failure: already have such entry",
    "dup_interface": "failure: already have interface with such name",
    "dup_port": "failure: device already added as bridge port",
    "dup_address": "failure: already have such address",
    "no_match": "input does not match any value of {}",
    "invalid_value": "invalid value for argument {}",
    "missing": "missing value(s) of argument(s) {}",
    "readonly_prop": "failure: {} is read-only",
    "physical": "failure: can not remove physical interface",
    "bad_query": "invalid query: {}",
    "no_prefix": "no such command prefix",
    # Safe Mode: the console/script wordings of RouterOS 7.21-7.24 as published by people who measured
    # them (see SAFE_MODE_COMMANDS); what the binary API's !trap says is [unverified].
    "safe_taken_self": "Safe Mode is taken by current user in another session. Action aborted.",
    "safe_taken_other": "Safe Mode is taken by another user ({}). Action aborted.",
    "safe_not_taken": "Safe Mode has not been taken. Action aborted.",
    "safe_no_session": "failure: Safe Mode needs a session (API or terminal)",  # [unverified] (REST)
}

BUILTIN_INTERFACE_LISTS = frozenset({"all", "none", "dynamic", "static"})


@dataclass(frozen=True)
class Prop:
    """One property of a menu record.

    ``readonly`` properties are printed but refused on input; ``writeonly`` ones (a user's password)
    are accepted but never stored in a record nor printed; ``secret`` ones are printed (RouterOS
    shows WireGuard private keys to full users) but left out of :meth:`ConfigStore.snapshot`.
    """

    kind: PropKind = "str"
    default: str | None = None
    required: bool = False
    readonly: bool = False
    writeonly: bool = False
    secret: bool = False
    choices: frozenset[str] = frozenset()
    ref: RefKind | None = None
    negatable: bool = False  # references such as ``in-interface-list=!LAN``


Validator = Callable[[Mapping[str, str]], None]


@dataclass(frozen=True)
class MenuSpec:
    """A menu: its kind, properties (in print order), unique keys and extra checks.

    * ``list``: add/set/remove (and ``move``/``place-before`` when ``ordered``);
    * ``fixed``: a fixed set of entries, ``set`` only (``/ip/service``, physical ``/interface``);
    * ``singleton``: one record without ``.id``, ``set`` only (``/ip/dns``);
    * ``readonly``: a singleton nobody can change (``/system/resource``).
    """

    path: str
    kind: MenuKind
    props: Mapping[str, Prop]
    key: str | None = None  # the property an item can be named by (``/rest/interface/ether1``)
    ordered: bool = False
    unique: tuple[tuple[tuple[str, ...], str], ...] = ()  # (properties, error message key)
    interface_type: str | None = None  # menus whose items are interfaces too (bridge, wg)
    auto_name: str | None = None  # ``bridge`` -> bridge1, bridge2, ... when ``name`` is omitted
    computed: tuple[str, ...] = ()  # read-only properties derived at print time
    validate: Validator | None = None

    @property
    def has_ids(self) -> bool:
        return self.kind in ("list", "fixed")


def _str(default: str | None = None, *, secret: bool = False) -> Prop:
    return Prop("str", default, secret=secret)


def _bool(default: str | None = "false") -> Prop:
    return Prop("bool", default)


def _int(default: str | None = None) -> Prop:
    return Prop("int", default)


def _enum(choices: str, default: str | None = None) -> Prop:
    return Prop("enum", default, choices=frozenset(choices.split()))


def _ro(default: str | None = None, kind: PropKind = "str") -> Prop:
    return Prop(kind, default, readonly=True)


_COMMON_TAIL = {"comment": _str(), "disabled": _bool()}

_CONNECTION_STATES = frozenset({"established", "invalid", "new", "related", "untracked"})
_FILTER_ACTIONS = (
    "accept drop reject tarpit jump return passthrough log add-src-to-address-list add-dst-to-address-list "
    "fasttrack-connection"
)
_MANGLE_ACTIONS = (
    "accept drop jump return passthrough log add-src-to-address-list add-dst-to-address-list mark-connection "
    "mark-packet mark-routing change-dscp change-mss change-ttl clear-df fasttrack-connection set-priority "
    "strip-ipv4-options route sniff-pc sniff-tzsp"
)
_RAW_ACTIONS = "accept drop jump return log add-src-to-address-list add-dst-to-address-list notrack"
_NAT_ACTIONS = (
    "accept dst-nat src-nat masquerade netmap redirect same endpoint-independent-nat jump return passthrough log "
    "add-src-to-address-list add-dst-to-address-list"
)

# Matchers shared by filter and NAT, in the order RouterOS prints them (roughly).
_MATCHERS: dict[str, Prop] = {
    "src-address": _str(),
    "dst-address": _str(),
    "src-address-list": _str(),
    "dst-address-list": _str(),
    "src-address-type": _str(),
    "dst-address-type": _str(),
    "protocol": _str(),
    "src-port": Prop("ports"),
    "dst-port": Prop("ports"),
    "port": Prop("ports"),
    "in-interface": Prop(ref="interface", negatable=True),
    "out-interface": Prop(ref="interface", negatable=True),
    "in-interface-list": Prop(ref="interface-list", negatable=True),
    "out-interface-list": Prop(ref="interface-list", negatable=True),
    "in-bridge-port": _str(),
    "out-bridge-port": _str(),
    "connection-state": Prop("flags", choices=_CONNECTION_STATES),
    "connection-nat-state": Prop("flags", choices=frozenset({"srcnat", "dstnat"})),
    "connection-type": _str(),
    "connection-mark": _str(),
    "packet-mark": _str(),
    "routing-mark": _str(),
    "connection-limit": _str(),
    "connection-rate": _str(),
    "connection-bytes": _str(),
    "tcp-flags": _str(),
    "tcp-mss": _str(),
    "icmp-options": _str(),
    "ipsec-policy": _str(),
    "limit": _str(),
    "dst-limit": _str(),
    "nth": _str(),
    "random": _str(),
    "packet-size": _str(),
    "ttl": _str(),
    "dscp": _str(),
    "priority": _str(),
    "content": _str(),
    "layer7-protocol": _str(),
    "src-mac-address": _str(),
    "tls-host": _str(),
    "time": _str(),
    "fragment": Prop("bool"),
    "hotspot": _str(),
    "per-connection-classifier": _str(),
    "jump-target": _str(),
    "address-list": _str(),
    "address-list-timeout": _str(),
    "log": _bool(),
    "log-prefix": _str(""),
}

_RULE_TAIL: dict[str, Prop] = {
    "bytes": _ro("0", "int"),
    "packets": _ro("0", "int"),
    "invalid": _ro("false", "bool"),
    "dynamic": _ro("false", "bool"),
    **_COMMON_TAIL,
}


def _validate_rule(rec: Mapping[str, str]) -> None:
    # A jump without a target cannot be compiled (nor does RouterOS accept it) [message unverified].
    if rec.get("action") == "jump" and not rec.get("jump-target"):
        raise RouterOsError(MSG["missing"].format("jump-target"), 1)


_DNS_TYPE_FIELD = {
    "A": "address",
    "AAAA": "address",
    "CNAME": "cname",
    "FWD": "forward-to",
    "MX": "mx-exchange",
    "NS": "ns",
    "SRV": "srv-target",
    "TXT": "text",
}


def _validate_dns_static(rec: Mapping[str, str]) -> None:
    if not rec.get("name") and not rec.get("regexp"):
        raise RouterOsError(MSG["missing"].format("name"), 1)
    rtype = rec.get("type") or "A"
    needed = _DNS_TYPE_FIELD.get(rtype)
    if needed and not rec.get(needed):
        raise RouterOsError(MSG["missing"].format(needed), 1)
    if rtype in ("A", "AAAA") and rec.get("address"):
        try:
            addr = ip_address(rec["address"])
        except ValueError:
            raise RouterOsError(MSG["invalid_value"].format("address"), 1) from None
        if isinstance(addr, IPv4Address) != (rtype == "A"):
            raise RouterOsError(MSG["invalid_value"].format("address"), 1)


def _validate_ipv6_address(rec: Mapping[str, str]) -> None:
    # /ipv6/address takes IPv6 only (an IPv4 address is refused as on the router) [message unverified].
    try:
        ok = ip_interface(rec.get("address", "")).version == 6
    except ValueError:
        ok = False
    if not ok:
        raise RouterOsError(MSG["invalid_value"].format("address"), 1)


# /ipv6/settings and /ipv6/nd's enums (RouterOS 7 manual: ipv6/settings, ipv6/nd).
_RA_ACCEPT = "no yes-if-forwarding-disabled yes"


def _rules(path: str, actions: str, extra: Mapping[str, Prop]) -> MenuSpec:
    """A firewall table (/ip and /ipv6 filter, NAT): chain, action, the shared matchers, ``extra``."""
    props = {"chain": Prop(required=True), "action": _enum(actions, "accept"), **_MATCHERS, **extra, **_RULE_TAIL}
    return MenuSpec(path, "list", props, ordered=True, computed=("invalid",), validate=_validate_rule)


def _address_list(path: str) -> MenuSpec:
    """``/ip firewall address-list`` or its IPv6 twin."""
    props = {
        "list": Prop(required=True),
        "address": Prop(required=True),
        "timeout": _str(),
        "creation-time": _ro(),
        "dynamic": _ro("false", "bool"),
        **_COMMON_TAIL,
    }
    return MenuSpec(path, "list", props, unique=((("list", "address"), "duplicate"),))


def _menu(spec: MenuSpec) -> tuple[str, MenuSpec]:
    return spec.path, spec


MENUS: dict[str, MenuSpec] = dict(
    [
        _menu(
            MenuSpec(
                "/interface",
                "fixed",
                {
                    "name": _ro(),
                    "default-name": _ro(),
                    "type": _ro("ether"),
                    "mtu": _ro("1500"),
                    "actual-mtu": _ro("1500"),
                    "l2mtu": _ro("1514"),
                    "mac-address": _ro(),
                    "running": _ro("true", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                key="name",
            )
        ),
        _menu(
            MenuSpec(
                "/interface/bridge",
                "list",
                {
                    "name": _str(),
                    "mtu": _str("auto"),
                    "actual-mtu": _ro("1500"),
                    "arp": _enum("disabled enabled local-proxy-arp proxy-arp reply-only", "enabled"),
                    "protocol-mode": _enum("none rstp stp mstp", "rstp"),
                    "vlan-filtering": _bool(),
                    "igmp-snooping": _bool(),
                    "fast-forward": _bool("true"),
                    "auto-mac": _bool("true"),
                    "admin-mac": _str(),
                    "ageing-time": _str("5m"),
                    "pvid": _int("1"),
                    "frame-types": _str("admit-all"),
                    "ingress-filtering": _bool("true"),
                    "running": _ro("true", "bool"),
                    **_COMMON_TAIL,
                },
                key="name",
                interface_type="bridge",
                auto_name="bridge",
            )
        ),
        _menu(
            MenuSpec(
                "/interface/bridge/port",
                "list",
                {
                    "interface": Prop(required=True, ref="interface"),
                    "bridge": Prop(required=True, ref="bridge"),
                    "hw": _bool("true"),
                    "pvid": _int("1"),
                    "horizon": _str("none"),
                    "edge": _str("auto"),
                    "point-to-point": _str("auto"),
                    "learn": _str("auto"),
                    "trusted": _bool(),
                    "frame-types": _str("admit-all"),
                    "ingress-filtering": _bool("true"),
                    "path-cost": _str(),
                    "priority": _str("0x80"),
                    "inactive": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("interface",), "dup_port"),),
            )
        ),
        _menu(
            MenuSpec(
                "/interface/list",
                "list",
                {
                    "name": Prop(required=True),
                    "include": _str(""),
                    "exclude": _str(""),
                    "builtin": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    "comment": _str(),
                },
                key="name",
                unique=((("name",), "duplicate"),),
            )
        ),
        _menu(
            MenuSpec(
                "/interface/list/member",
                "list",
                {
                    "list": Prop(required=True, ref="interface-list"),
                    "interface": Prop(required=True, ref="interface"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("list", "interface"), "duplicate"),),
            )
        ),
        _menu(
            MenuSpec(
                "/interface/wireguard",
                "list",
                {
                    "name": _str(),
                    "mtu": _int("1420"),
                    "listen-port": _int("13231"),
                    "private-key": _str(secret=True),
                    "public-key": _ro(),
                    "running": _ro("true", "bool"),
                    **_COMMON_TAIL,
                },
                key="name",
                interface_type="wg",
                auto_name="wireguard",
            )
        ),
        _menu(
            MenuSpec(
                "/interface/wireguard/peers",
                "list",
                {
                    "name": _str(),
                    "interface": Prop(required=True, ref="wireguard"),
                    "public-key": Prop(required=True),
                    "preshared-key": _str(secret=True),
                    "allowed-address": _str(""),
                    "endpoint-address": _str(""),
                    "endpoint-port": _int("0"),
                    "persistent-keepalive": _str(""),
                    "client-address": _str(),
                    "client-dns": _str(),
                    "client-endpoint": _str(),
                    "client-keepalive": _str(),
                    "client-listen-port": _str(),
                    "responder": _bool(),
                    "current-endpoint-address": _ro(""),
                    "current-endpoint-port": _ro("0"),
                    "rx": _ro("0", "int"),
                    "tx": _ro("0", "int"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("interface", "public-key"), "duplicate"),),
            )
        ),
        _menu(
            MenuSpec(
                "/ip/address",
                "list",
                {
                    "address": Prop(required=True),
                    "network": _str(),
                    "interface": Prop(required=True, ref="interface"),
                    "actual-interface": _ro(),
                    "invalid": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("address", "interface"), "dup_address"),),
                computed=("network", "actual-interface", "invalid"),
            )
        ),
        _menu(_rules("/ip/firewall/filter", _FILTER_ACTIONS, {"reject-with": _str(), "hw-offload": Prop("bool")})),
        _menu(_rules("/ip/firewall/nat", _NAT_ACTIONS, {"to-addresses": _str(), "to-ports": Prop("ports")})),
        _menu(_address_list("/ip/firewall/address-list")),
        _menu(
            MenuSpec(
                "/ip/dns/static",
                "list",
                {
                    "name": _str(),
                    "regexp": _str(),
                    "type": _enum("A AAAA CNAME FWD MX NS NXDOMAIN SRV TXT"),
                    "address": _str(),
                    "cname": _str(),
                    "forward-to": _str(),
                    "mx-exchange": _str(),
                    "mx-preference": _int(),
                    "ns": _str(),
                    "srv-port": _int(),
                    "srv-priority": _int(),
                    "srv-target": _str(),
                    "srv-weight": _int(),
                    "text": _str(),
                    "address-list": _str(),
                    "match-subdomain": _bool(),
                    "ttl": _str("1d"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                ordered=True,  # order matters for regexp entries, and RouterOS has `move` here
                validate=_validate_dns_static,
            )
        ),
        _menu(
            MenuSpec(
                "/ip/service",
                "fixed",
                {
                    "name": _ro(),
                    "port": _int(),
                    "address": _str(""),
                    "certificate": _str(),
                    "tls-version": _str(),
                    "vrf": _str(),  # main on every entry but ftp, which has no VRF (SERVICES)
                    "max-sessions": _int("20"),
                    "invalid": _ro("false", "bool"),
                    "disabled": _bool(),
                },
                key="name",
            )
        ),
        _menu(
            MenuSpec(
                "/user",
                "list",
                {
                    "name": Prop(required=True),
                    "group": Prop("enum", required=True, choices=frozenset({"full", "read", "write"})),
                    "address": _str(""),
                    "password": Prop(writeonly=True),
                    "last-logged-in": _ro(),
                    **_COMMON_TAIL,
                },
                key="name",
                unique=((("name",), "duplicate"),),
            )
        ),
        _menu(
            MenuSpec(
                "/ip/dns",
                "singleton",
                {
                    "servers": _str(""),
                    "dynamic-servers": _ro(""),
                    "use-doh-server": _str(""),
                    "verify-doh-cert": _bool(),
                    "allow-remote-requests": _bool(),
                    "max-udp-packet-size": _int("4096"),
                    "query-server-timeout": _str("2s"),
                    "query-total-timeout": _str("10s"),
                    "max-concurrent-queries": _int("100"),
                    "max-concurrent-tcp-sessions": _int("20"),
                    "cache-size": _str("2048KiB"),
                    "cache-max-ttl": _str("1w"),
                    "cache-used": _ro("0KiB"),
                },
            )
        ),
        # IPv6: a table of its own.  Factory state: IPv6 on and forwarding, the default /ipv6/nd entry
        # (seeded by the store) advertising on every interface, no address but link-local, no filter.
        _menu(
            MenuSpec(
                "/ipv6/settings",
                "singleton",
                {
                    "disable-ipv6": _bool("false"),
                    "forward": _bool("true"),
                    "accept-redirects": _enum(_RA_ACCEPT, "yes-if-forwarding-disabled"),
                    "accept-router-advertisements": _enum(_RA_ACCEPT, "yes-if-forwarding-disabled"),
                    "max-neighbor-entries": _int("8192"),
                    "multipath-hash-policy": _enum("l3 l4 l3-inner", "l3"),
                    "disable-link-local-address": _bool(),
                },
            )
        ),
        _menu(
            MenuSpec(
                "/ipv6/address",
                "list",
                {
                    "address": Prop(required=True),
                    "from-pool": _str(),
                    "interface": Prop(required=True, ref="interface"),
                    "actual-interface": _ro(),
                    "eui-64": _bool(),
                    "advertise": Prop("bool"),  # printed as RouterOS sets it: on for /64 unless told
                    "no-dad": _bool(),
                    "link-local": _ro("false", "bool"),
                    "invalid": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("address", "interface"), "dup_address"),),
                computed=("actual-interface", "invalid", "advertise"),
                validate=_validate_ipv6_address,
            )
        ),
        _menu(
            MenuSpec(
                "/ipv6/nd",
                "list",
                {
                    # An interface name or ``all`` (so no reference check).
                    "interface": Prop(required=True),
                    "ra-interval": _str("3m20s-10m"),
                    "ra-delay": _str("3s"),
                    "mtu": _str("unspecified"),
                    "reachable-time": _str("unspecified"),
                    "retransmit-interval": _str("unspecified"),
                    "ra-lifetime": _str("30m"),
                    "ra-preference": _enum("low medium high", "medium"),
                    "hop-limit": _str("unspecified"),
                    "advertise-mac-address": _bool("true"),
                    "advertise-dns": _bool("true"),
                    "managed-address-configuration": _bool(),
                    "other-configuration": _bool(),
                    "dns": _str(""),
                    "default": _ro("false", "bool"),
                    "invalid": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
            )
        ),
        _menu(
            _rules(
                "/ipv6/firewall/filter",
                _FILTER_ACTIONS,
                {"headers": _str(), "hop-limit": _str(), "reject-with": _str()},
            )
        ),
        _menu(_address_list("/ipv6/firewall/address-list")),
        # Menus the checks read that the lab leaves at their factory state (the live snapshot prints
        # them; RouterOS 7 defaults as in facts/routeros_defaults.py).  The lab's data plane applies
        # none of them: a rule added here is stored and printed, never enforced.
        _menu(
            MenuSpec(
                "/ip/upnp",
                "singleton",
                {
                    "enabled": _bool(),
                    "allow-disable-external-interface": _bool(),
                    "show-dummy-rule": _bool("true"),
                },
            )
        ),
        _menu(
            MenuSpec(
                "/ip/firewall/mangle",
                "list",
                {
                    "chain": Prop(required=True),
                    "action": _enum(_MANGLE_ACTIONS, "accept"),
                    **_MATCHERS,
                    "new-connection-mark": _str(),
                    "new-packet-mark": _str(),
                    "new-routing-mark": _str(),
                    "passthrough": Prop("bool"),
                    **_RULE_TAIL,
                },
                ordered=True,
                computed=("invalid",),
                validate=_validate_rule,
            )
        ),
        _menu(
            MenuSpec(
                "/ip/firewall/raw",
                "list",
                {"chain": Prop(required=True), "action": _enum(_RAW_ACTIONS, "accept"), **_MATCHERS, **_RULE_TAIL},
                ordered=True,
                computed=("invalid",),
                validate=_validate_rule,
            )
        ),
        *(
            _menu(
                MenuSpec(
                    path,
                    "list",
                    {"chain": Prop(required=True), "action": _enum(actions, "accept"), **_MATCHERS, **_RULE_TAIL},
                    ordered=True,
                    computed=("invalid",),
                    validate=_validate_rule,
                )
            )
            for path, actions in (
                ("/ipv6/firewall/nat", _NAT_ACTIONS),
                ("/ipv6/firewall/mangle", _MANGLE_ACTIONS),
                ("/ipv6/firewall/raw", _RAW_ACTIONS),
            )
        ),
        _menu(
            MenuSpec(
                "/interface/vlan",
                "list",
                {
                    "name": Prop(required=True),
                    "vlan-id": Prop("int", required=True),
                    "interface": Prop(required=True, ref="interface"),
                    "mtu": _int("1500"),
                    "arp": _enum("disabled enabled local-proxy-arp proxy-arp reply-only", "enabled"),
                    "use-service-tag": _bool(),
                    "running": _ro("true", "bool"),
                    **_COMMON_TAIL,
                },
                key="name",
            )
        ),
        _menu(
            MenuSpec(
                "/interface/macvlan",
                "list",
                {
                    "name": Prop(required=True),
                    "interface": Prop(required=True, ref="interface"),
                    "mode": _enum("bridge private", "bridge"),
                    "mtu": _int("1500"),
                    "running": _ro("true", "bool"),
                    **_COMMON_TAIL,
                },
                key="name",
            )
        ),
        _menu(
            MenuSpec(
                "/interface/pppoe-client",
                "list",
                {
                    "name": Prop(required=True),
                    "interface": Prop(required=True, ref="interface"),
                    "user": _str(""),
                    "password": Prop(writeonly=True),
                    "service-name": _str(""),
                    "ac-name": _str(""),
                    "add-default-route": _bool(),
                    "default-route-distance": _int("1"),
                    "use-peer-dns": _bool(),
                    "profile": _str("default"),
                    "dial-on-demand": _bool(),
                    "running": _ro("false", "bool"),
                    "comment": _str(),
                    "disabled": _bool("true"),  # RouterOS adds a PPPoE client disabled
                },
                key="name",
            )
        ),
        _menu(
            MenuSpec(
                "/ip/dhcp-client",
                "list",
                {
                    "interface": Prop(required=True, ref="interface"),
                    "add-default-route": _enum("yes no special-classless", "yes"),
                    "default-route-distance": _int("1"),
                    "use-peer-dns": _bool("true"),
                    "use-peer-ntp": _bool("true"),
                    "status": _ro("searching..."),
                    "invalid": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
                unique=((("interface",), "duplicate"),),
            )
        ),
        _menu(
            MenuSpec(
                "/ip/route",
                "list",
                {
                    "dst-address": _str("0.0.0.0/0"),
                    "gateway": _str(),
                    "distance": _int("1"),
                    "routing-table": _str("main"),
                    "scope": _int("30"),
                    "target-scope": _int("10"),
                    "blackhole": _bool(),
                    "active": _ro("false", "bool"),
                    "dynamic": _ro("false", "bool"),
                    **_COMMON_TAIL,
                },
            )
        ),
        _menu(MenuSpec("/system/identity", "singleton", {"name": _str("MikroTik")})),
        _menu(
            MenuSpec(
                "/system/resource",
                "readonly",
                {
                    "uptime": _ro(),
                    "version": _ro("7.16.2 (stable)"),
                    "build-time": _ro("2024-11-26 14:05:03"),
                    "factory-software": _ro("7.16.2"),
                    "free-memory": _ro("872415232", "int"),
                    "total-memory": _ro("1073741824", "int"),
                    "cpu": _ro("QEMU Virtual CPU"),
                    "cpu-count": _ro("1", "int"),
                    "cpu-frequency": _ro("2400", "int"),
                    "cpu-load": _ro("0", "int"),
                    "free-hdd-space": _ro("93175808", "int"),
                    "total-hdd-space": _ro("134217728", "int"),
                    "architecture-name": _ro("x86_64"),
                    "board-name": _ro("CHR"),
                    "platform": _ro("MikroTik"),
                },
                computed=("uptime",),
            )
        ),
    ]
)

# Which menu defines the names a reference kind can point to (interfaces come from several).
REF_MENUS: dict[str, tuple[str, ...]] = {
    "interface": ("/interface", "/interface/bridge", "/interface/wireguard"),
    "interface-list": ("/interface/list",),
    "bridge": ("/interface/bridge",),
    "wireguard": ("/interface/wireguard",),
}

# Menus whose commands exist: RouterOS has enable/disable wherever a record has ``disabled``.
LIST_COMMANDS = frozenset({"print", "getall", "add", "set", "unset", "remove", "enable", "disable"})
FIXED_COMMANDS = frozenset({"print", "getall", "set", "unset", "enable", "disable", "remove"})
SINGLETON_COMMANDS = frozenset({"print", "getall", "set"})
READONLY_COMMANDS = frozenset({"print", "getall"})


def commands_of(spec: MenuSpec) -> frozenset[str]:
    """The commands a menu answers to (anything else is ``no such command or directory``)."""
    if spec.kind == "list":
        base = LIST_COMMANDS | ({"move"} if spec.ordered else set())
    elif spec.kind == "fixed":
        # Only /interface removes (virtual interfaces, as on RouterOS); /ip/service has no remove.
        base = FIXED_COMMANDS if spec.path == "/interface" else FIXED_COMMANDS - {"remove"}
    elif spec.kind == "singleton":
        base = SINGLETON_COMMANDS
    else:
        base = READONLY_COMMANDS
    if "disabled" not in spec.props:
        base = base - {"enable", "disable"}
    return frozenset(base)


# Safe Mode (RouterOS 7.18+ ``/safe-mode take|release|unroll``), a menu without records.  Sources:
# help.mikrotik.com "Configuration Management" (Safe Mode: one holder; every change, from any session,
# undone if the holder's session ends abnormally; past 100 history actions the session silently leaves
# safe mode and nothing is undone); measured CLI wordings: github.com/danikf/tik4net (7.24.4 question
# "Safe Mode is taken by current user in another session", "Quitting will unroll changes") and a public
# RouterOS 7.21 CHR safe-mode reference ("Safe Mode has not been taken. Action aborted.").
SAFE_MODE_MENU = "/safe-mode"
SAFE_MODE_COMMANDS = frozenset({"take", "release", "unroll"})
SAFE_MODE_MAX_ACTIONS = 100  # RouterOS history holds 100 actions; the 101st ends safe mode, nothing undone


def directories() -> frozenset[str]:
    """Every path prefix of a known menu (``/ip``, ``/ip/firewall``...): valid but command-less."""
    out = {"/", SAFE_MODE_MENU}
    for path in MENUS:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            out.add("/" + "/".join(parts[:i]))
    return frozenset(out)


@dataclass(frozen=True)
class StoreOptions:
    """Behaviour toggles for points the design notes mark as unverified on a real router."""

    # Refuse references to interfaces/lists/bridges that do not exist (RouterOS does, as
    # ``input does not match any value of ...``); records left dangling later print ``invalid=true``.
    validate_references: bool = True
    # Refuse ``dst-port`` & co. unless ``protocol`` is tcp/udp/udp-lite/sctp/dccp [unverified].
    require_port_protocol: bool = False
    # Physical interfaces the lab reports in ``/interface`` (the router's ports, as in the site).
    interfaces: tuple[str, ...] = field(default=("ether1", "ether2", "ether3", "ether4", "ether5"))


# /ip/service: fixed entries with RouterOS 7 factory defaults (www-ssl needs a certificate, so it
# starts disabled, as on a fresh router).
SERVICES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("telnet", "23", {"vrf": "main"}),
    ("ftp", "21", {}),  # no VRF setting (RouterOS 7 prints none for ftp)
    ("www", "80", {"vrf": "main"}),
    ("ssh", "22", {"vrf": "main"}),
    ("www-ssl", "443", {"certificate": "none", "tls-version": "any", "disabled": "true", "vrf": "main"}),
    ("api", "8728", {"vrf": "main"}),
    ("winbox", "8291", {"vrf": "main"}),
    ("api-ssl", "8729", {"certificate": "none", "tls-version": "any", "vrf": "main"}),
)
