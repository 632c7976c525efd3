"""RouterOS 7 factory defaults of the menus the checks read, and how a reading is completed with them.

``/export`` (without ``verbose``) writes only what differs from the factory state: an entry still at its
defaults is not mentioned, a property at its default is not written, a singleton menu left alone has no
section at all.  A live print (API, REST) shows every entry and every property that has a value.  Read
either way, the same router must give the same facts, so :func:`complete` brings both to one normal form:

* **booleans** are ``true``/``false``, the form API and REST print (and the lab's emulator stores); an
  export's ``yes``/``no`` is converted for the properties this table knows to be boolean.  Other values
  keep their text: a comment may well be ``yes``;
* an **empty value** is the same fact as an absent one (a print shows ``address=""`` where an export
  writes nothing), so empty values are dropped;
* **run-time state** that is not configuration (counters, the interface an address is currently on,
  open sessions listed in ``/ip service`` since RouterOS 7.19) is dropped;
* **defaults** are filled in: every record gets the properties it leaves at their factory value,
  **built-in entries** (``/ip service``'s eight, the interface lists ``all``/``none``/``dynamic``/
  ``static``) exist whether or not the reading mentions them, and a **singleton** menu (``/ip dns``,
  ``/ip upnp``) always has its one record;
* ``.id`` is kept (an export gets the parser's synthetic ids) but is no fact:
  :meth:`~pytest_zengarden.facts.router.RouterConfig.facts` leaves it out.

What stays different: dynamic records (a DHCP client's address, connected routes, IPv6 link-local
addresses, the fasttrack counters' dummy filter rule) are device state a print shows and an export never
does; the checks skip dynamic records where they judge configuration.

Only the menus in :data:`MENUS` are completed; they are exactly the menus the evaluators declare in their
``READS`` (a test holds the two equal), and the live snapshot prints exactly these.  A menu read by a
check must be here: without its defaults an export would be misread again.

Sources: the field defaults of community.routeros (``plugins/module_utils/_api_data.py``, checked
against RouterOS 7 devices), MikroTik's manual (``/ip service print`` on RouterOS 7: www-ssl the only
service disabled, ftp without a VRF; interface lists), and verbose exports (built-in list comments).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_interface
from types import MappingProxyType
from typing import Literal

MenuKind = Literal["list", "fixed", "singleton"]

# /ip/service entries of RouterOS 7 and their factory ports, in print order.
SERVICE_PORTS: Mapping[str, int] = MappingProxyType(
    {"telnet": 23, "ftp": 21, "www": 80, "ssh": 22, "www-ssl": 443, "api": 8728, "winbox": 8291, "api-ssl": 8729}
)

_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


@dataclass(frozen=True)
class MenuDefaults:
    """What a RouterOS 7 router holds in one menu before anyone configures it.

    ``defaults``: per-record properties and their factory values (empty defaults are not listed: an
    empty value is no fact).  ``builtins``: entries every router has, with the values they differ by,
    matched to a reading's records by ``key``.  ``booleans``: properties printed ``true``/``false``.
    ``runtime``: read-only state dropped from the facts.  ``sessions``: dynamic records are run-time
    state, not configuration, and are dropped.
    """

    kind: MenuKind
    defaults: Mapping[str, str] = field(default_factory=dict)
    booleans: frozenset[str] = frozenset()
    runtime: frozenset[str] = frozenset()
    key: str = "name"
    builtins: tuple[Mapping[str, str], ...] = ()
    sessions: bool = False


_FLAGS = frozenset({"disabled", "dynamic", "invalid"})
_FLAG_DEFAULTS = {"disabled": "false", "dynamic": "false", "invalid": "false"}


def _rules(**extra: str) -> MenuDefaults:
    """A firewall table: ``action=accept``, not logged, enabled; counters are run-time state."""
    return MenuDefaults(
        "list",
        defaults={"action": "accept", "log": "false", **_FLAG_DEFAULTS, **extra},
        booleans=_FLAGS | {"log", "hw-offload", "fragment", "passthrough"},
        runtime=frozenset({"bytes", "packets"}),
    )


def _service(name: str, **extra: str) -> Mapping[str, str]:
    return MappingProxyType({"name": name, "port": str(SERVICE_PORTS[name]), "vrf": "main", **extra})


def _interface_list(name: str, contains: str) -> Mapping[str, str]:
    return MappingProxyType({"name": name, "builtin": "true", "comment": f"contains {contains} interfaces"})


MENUS: Mapping[str, MenuDefaults] = MappingProxyType(
    {
        "/interface/list": MenuDefaults(
            "list",
            defaults={"builtin": "false", "dynamic": "false"},
            booleans=frozenset({"builtin", "dynamic"}),
            builtins=(
                _interface_list("all", "all"),
                _interface_list("none", "no"),
                _interface_list("dynamic", "dynamic"),
                _interface_list("static", "static"),
            ),
        ),
        "/interface/list/member": MenuDefaults(
            "list", defaults={"disabled": "false", "dynamic": "false"}, booleans=frozenset({"disabled", "dynamic"})
        ),
        "/ip/address": MenuDefaults(
            "list",
            defaults=_FLAG_DEFAULTS,
            booleans=_FLAGS | {"slave"},
            runtime=frozenset({"actual-interface", "slave"}),
        ),
        "/ip/dns": MenuDefaults(
            "singleton",
            defaults={
                "allow-remote-requests": "false",
                "max-udp-packet-size": "4096",
                "query-server-timeout": "2s",
                "query-total-timeout": "10s",
                "max-concurrent-queries": "100",
                "max-concurrent-tcp-sessions": "20",
                "cache-size": "2048KiB",
                "cache-max-ttl": "1w",
                "verify-doh-cert": "false",
                "doh-max-server-connections": "5",
                "doh-max-concurrent-queries": "50",
                "doh-timeout": "5s",
                "address-list-extra-time": "0s",
                "vrf": "main",
            },
            booleans=frozenset({"allow-remote-requests", "verify-doh-cert"}),
            runtime=frozenset({"dynamic-servers", "cache-used"}),
        ),
        "/ip/dns/static": MenuDefaults(
            "list",
            defaults={"type": "A", "ttl": "1d", "match-subdomain": "false", "disabled": "false", "dynamic": "false"},
            booleans=frozenset({"match-subdomain", "disabled", "dynamic"}),
        ),
        "/ip/firewall/address-list": MenuDefaults(
            "list",
            defaults={"disabled": "false", "dynamic": "false"},
            booleans=frozenset({"disabled", "dynamic"}),
            runtime=frozenset({"creation-time"}),
        ),
        "/ip/firewall/filter": _rules(),
        "/ip/firewall/nat": _rules(),
        "/ip/firewall/mangle": _rules(),
        "/ip/firewall/raw": _rules(),
        "/ip/service": MenuDefaults(
            "fixed",
            defaults={"disabled": "false", "max-sessions": "20", "dynamic": "false"},
            booleans=frozenset({"disabled", "dynamic", "invalid", "connection"}),
            # invalid (no certificate, port taken...) is the router's judgement at run time; proto is descriptive.
            runtime=frozenset({"invalid", "proto", "connection", "local", "remote"}),
            builtins=(
                _service("telnet"),
                MappingProxyType({"name": "ftp", "port": "21"}),  # ftp has no VRF setting
                _service("www"),
                _service("ssh"),
                _service("www-ssl", certificate="none", **{"tls-version": "any"}, disabled="true"),
                _service("api"),
                _service("winbox"),
                _service("api-ssl", certificate="none", **{"tls-version": "any"}),
            ),
            sessions=True,
        ),
        # Where the WAN interface comes from (facts.router.uplink): stacked interfaces, clients, routes.
        "/interface/bridge/port": MenuDefaults(
            "list",
            defaults={
                "disabled": "false",
                "dynamic": "false",
                "hw": "true",
                "pvid": "1",
                "horizon": "none",
                "edge": "auto",
                "point-to-point": "auto",
                "learn": "auto",
                "trusted": "false",
                "frame-types": "admit-all",
                "ingress-filtering": "true",
                "priority": "0x80",
            },
            booleans=frozenset({"disabled", "dynamic", "hw", "trusted", "ingress-filtering"}),
            runtime=frozenset({"inactive", "status", "port-number", "role", "edge-port", "point-to-point-port"}),
        ),
        "/interface/vlan": MenuDefaults(
            "list",
            defaults={"disabled": "false", "mtu": "1500", "arp": "enabled", "use-service-tag": "false"},
            booleans=frozenset({"disabled", "use-service-tag"}),
            runtime=frozenset({"running", "l2mtu", "mac-address"}),
        ),
        "/interface/macvlan": MenuDefaults(
            "list",
            defaults={"disabled": "false", "mode": "bridge", "mtu": "1500"},
            booleans=frozenset({"disabled"}),
            runtime=frozenset({"running", "l2mtu"}),
        ),
        "/interface/pppoe-client": MenuDefaults(
            "list",
            # RouterOS adds a PPPoE client disabled: an export writes disabled=no for one that runs.
            defaults={
                "disabled": "true",
                "add-default-route": "false",
                "default-route-distance": "1",
                "use-peer-dns": "false",
                "dial-on-demand": "false",
                "profile": "default",
            },
            booleans=frozenset({"disabled", "add-default-route", "use-peer-dns", "dial-on-demand"}),
            runtime=frozenset({"running"}),
        ),
        "/ip/dhcp-client": MenuDefaults(
            "list",
            # add-default-route is yes|no|special-classless: an enum, kept as written.
            defaults={
                "disabled": "false",
                "dynamic": "false",
                "invalid": "false",
                "add-default-route": "yes",
                "default-route-distance": "1",
                "use-peer-dns": "true",
                "use-peer-ntp": "true",
            },
            booleans=_FLAGS | {"use-peer-dns", "use-peer-ntp"},
            runtime=frozenset(
                {
                    "status",
                    "address",
                    "gateway",
                    "dhcp-server",
                    "primary-dns",
                    "secondary-dns",
                    "expires-after",
                    "primary-ntp",
                    "secondary-ntp",
                }
            ),
        ),
        "/ip/route": MenuDefaults(
            "list",
            defaults={
                "dst-address": "0.0.0.0/0",
                "distance": "1",
                "routing-table": "main",
                "scope": "30",
                "target-scope": "10",
                "disabled": "false",
                "dynamic": "false",
            },
            booleans=frozenset({"disabled", "dynamic", "blackhole", "suppress-hw-offload"}),
            runtime=frozenset({"active", "inactive", "immediate-gw", "hw-offloaded", "ecmp", "static", "connect"}),
        ),
        "/ip/upnp": MenuDefaults(
            "singleton",
            defaults={"enabled": "false", "allow-disable-external-interface": "false", "show-dummy-rule": "true"},
            booleans=frozenset({"enabled", "allow-disable-external-interface", "show-dummy-rule"}),
        ),
        # IPv6 (checks/ipv6.py): RouterOS 7 ships it on and forwarding, with a default ND entry sending RAs
        # on every interface (manual: ipv6/settings, ipv6/nd).  An address's advertise depends on its prefix
        # length (on for /64), so it has no fixed default here.
        "/ipv6/settings": MenuDefaults(
            "singleton",
            defaults={
                "disable-ipv6": "false",
                "forward": "true",
                "accept-redirects": "yes-if-forwarding-disabled",
                "accept-router-advertisements": "yes-if-forwarding-disabled",
                "multipath-hash-policy": "l3",
                "disable-link-local-address": "false",
                "max-neighbor-entries": "8192",
            },
            booleans=frozenset({"disable-ipv6", "forward", "disable-link-local-address"}),
        ),
        "/ipv6/address": MenuDefaults(
            "list",
            defaults={**_FLAG_DEFAULTS, "eui-64": "false", "no-dad": "false"},
            booleans=_FLAGS | {"eui-64", "no-dad", "advertise", "link-local", "global", "deprecated", "slave"},
            runtime=frozenset({"actual-interface", "link-local", "global", "deprecated", "slave"}),
        ),
        "/ipv6/nd": MenuDefaults(
            "list",
            defaults={
                "disabled": "false",
                "invalid": "false",
                "default": "false",
                "ra-interval": "3m20s-10m",
                "ra-delay": "3s",
                "mtu": "unspecified",
                "reachable-time": "unspecified",
                "retransmit-interval": "unspecified",
                "ra-lifetime": "30m",
                "ra-preference": "medium",
                "hop-limit": "unspecified",
                "advertise-mac-address": "true",
                "advertise-dns": "true",
                "managed-address-configuration": "false",
                "other-configuration": "false",
            },
            booleans=frozenset(
                {
                    "disabled",
                    "invalid",
                    "default",
                    "advertise-mac-address",
                    "advertise-dns",
                    "managed-address-configuration",
                    "other-configuration",
                }
            ),
            key="default",
            builtins=(MappingProxyType({"default": "true", "interface": "all"}),),
        ),
        "/ipv6/firewall/filter": _rules(),
        "/ipv6/firewall/nat": _rules(),
        "/ipv6/firewall/mangle": _rules(),
        "/ipv6/firewall/raw": _rules(),
        "/ipv6/firewall/address-list": MenuDefaults(
            "list",
            defaults={"disabled": "false", "dynamic": "false"},
            booleans=frozenset({"disabled", "dynamic"}),
            runtime=frozenset({"creation-time"}),
        ),
    }
)

Records = Mapping[str, Iterable[Mapping[str, str]]]


def _normal(spec: MenuDefaults, record: Mapping[str, str]) -> dict[str, str]:
    """One record in normal form: run-time state and empty values dropped, booleans as true/false."""
    out: dict[str, str] = {}
    for key, value in record.items():
        if key in spec.runtime or value == "":
            continue
        if key in spec.booleans:
            low = value.strip().lower()
            # A value that is no boolean stays as read, so the check that reads it reports it.
            value = "true" if low in _TRUE else "false" if low in _FALSE else value
        out[key] = value
    return out


def _filled(spec: MenuDefaults, record: dict[str, str], builtin: Mapping[str, str] | None = None) -> dict[str, str]:
    out = {**spec.defaults, **(builtin or {}), **record}
    if ".id" in record:
        out = {".id": record[".id"], **out}  # ids first, as RouterOS prints them
    return out


def normal_record(menu: str, record: Mapping[str, str]) -> dict[str, str]:
    """One record of ``menu`` as a fact: normal form (booleans, no empty or run-time values), defaults filled in."""
    spec = MENUS.get(menu)
    if spec is None:
        return {k: v for k, v in record.items() if v != ""}
    return _filled(spec, _normal(spec, record))


def complete_menu(menu: str, records: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The records of ``menu`` (canonical path, in :data:`MENUS`) as facts, completed with its defaults."""
    spec = MENUS[menu]
    normal = [_normal(spec, r) for r in records]
    if spec.sessions:
        normal = [r for r in normal if r.get("dynamic") != "true"]
    if spec.kind == "singleton":
        return [_filled(spec, r) for r in normal] or [_filled(spec, {})]
    out: list[dict[str, str]] = []
    used: set[int] = set()
    for builtin in spec.builtins:
        # The device's own record of a built-in entry, if the reading has one; otherwise it is at its defaults.
        index = next((i for i, r in enumerate(normal) if i not in used and r.get(spec.key) == builtin[spec.key]), None)
        if index is not None:
            used.add(index)
        out.append(_filled(spec, normal[index] if index is not None else {}, builtin))
    for i, rec in enumerate(normal):
        if i not in used:
            out.append(_filled(spec, rec))
    if menu == "/ip/address":
        for rec in out:
            # RouterOS computes network from address; an export writes it, a hand-written one may not.
            if "network" not in rec and "address" in rec:
                with contextlib.suppress(ValueError):  # the check that reads the address reports it
                    rec["network"] = str(ip_interface(rec["address"]).network.network_address)
    return out


def complete(menus: Records, read: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
    """``menus`` as facts: each menu of :data:`MENUS` that was read completed with its defaults.

    ``read``: the menus the reader read in full (a live snapshot prints some menus); ``None`` means the
    reading covers the whole configuration, as an export does, so a menu it leaves out is at its factory
    state.  Menus outside :data:`MENUS` are kept as given.  Keys must be canonical paths (``/ip/service``)
    and values strings.
    """
    out: dict[str, list[dict[str, str]]] = {m: [dict(r) for r in recs] for m, recs in menus.items()}
    wanted = set(MENUS) if read is None else set(MENUS) & set(read)
    for menu in MENUS:
        if menu in wanted:
            out[menu] = complete_menu(menu, menus.get(menu, ()))
    return out
