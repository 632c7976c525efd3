"""Render a :class:`RouterConfig` as a RouterOS 7 ``/export`` (``.rsc``): the inverse of :mod:`.rsc`.

The plugin reads a router over the API or REST; saved with :func:`render_rsc`, that reading becomes a
``router.rsc`` that the offline target (``--zg-target offline=DIR``) judges exactly as the live read
was judged: ``parse_rsc(render_rsc(config))`` gives back every menu and record, in order (firewall
rules are evaluated in order), with every value unchanged.

Only what the router computes at run time is left out, as RouterOS leaves it out of its own exports:
dynamic records, ``.id`` and every other ``.``-property, counters (``bytes``, ``packets``) and the
``dynamic``/``invalid`` flags.  Credentials (WireGuard ``private-key``/``preshared-key``, client
passwords) are left out too, as RouterOS's own ``/export`` leaves them out without ``show-sensitive``.
Everything else is written as read, read-only properties such as
``running`` included, because a check may look at them; values are not translated either
(``disabled=true`` from the API stays ``true``; :func:`~pytest_zengarden.facts.router.as_bool` reads both).

The layout follows RouterOS: menus in the order an export lists them, ``add`` for list menus, ``set``
for singletons (``/ip dns``) and for the fixed entries a router is born with (``set telnet`` in
``/ip service``, ``set [ find default-name=ether1 ]`` for ports), properties sorted by name, values
quoted and escaped as the console does (UTF-8 as ``\\E2\\86\\92``).  The output is pure ASCII apart
from the optional ``header`` comment, and deterministic.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable

from pytest_zengarden.facts.router import Record, RouterConfig, as_bool
from pytest_zengarden.offline.rsc import _COMMANDS, _MENU_CHARS, _OTHER_COMMANDS
from pytest_zengarden.redaction import SENSITIVE_PROPERTIES

# Run-time state: never part of an export (``.id``, ``.nextid``, ``.about`` are caught by the prefix).
RUNTIME_PROPERTIES = frozenset({"dynamic", "invalid", "bytes", "packets"})

# Menus holding exactly one record without an id: written ``set k=v ...`` with no item.
SINGLETON_MENUS = frozenset(
    {
        "/certificate/settings",
        "/interface/bridge/settings",
        "/interface/detect-internet",
        "/ip/cloud",
        "/ip/dns",
        "/ip/firewall/connection/tracking",
        "/ip/neighbor/discovery-settings",
        "/ip/proxy",
        "/ip/settings",
        "/ip/smb",
        "/ip/socks",
        "/ip/ssh",
        "/ip/traffic-flow",
        "/ip/upnp",
        "/ipv6/settings",
        "/snmp",
        "/system/clock",
        "/system/identity",
        "/system/note",
        "/system/ntp/client",
        "/system/ntp/server",
        "/system/resource",
        "/system/routerboard/settings",
        "/system/upgrade/mirror",
        "/system/watchdog",
        "/tool/bandwidth-server",
        "/tool/e-mail",
        "/tool/mac-server",
        "/tool/mac-server/mac-winbox",
        "/tool/romon",
        "/tool/sniffer",
    }
)

# Menus of fixed entries that cannot be added, only set by name (``/ip service`` ``set ssh port=2222``).
# Entries carrying a ``default-name`` (ethernet, wireless, LTE ports) are fixed in whatever menu they are.
NAMED_FIXED_MENUS = frozenset({"/ip/firewall/service-port", "/ip/service"})

# The order of a RouterOS 7 export: what is referred to before what refers to it.  Menus not named
# here follow, sorted.
MENU_ORDER: tuple[str, ...] = (
    "/interface",
    "/interface/ethernet",
    "/interface/bridge",
    "/interface/wireless",
    "/interface/wifi",
    "/interface/lte",
    "/interface/bonding",
    "/interface/eoip",
    "/interface/gre",
    "/interface/ipip",
    "/interface/veth",
    "/interface/vlan",
    "/interface/vrrp",
    "/interface/wireguard",
    "/interface/list",
    "/ip/pool",
    "/ip/dhcp-server",
    "/ppp/profile",
    "/routing/table",
    "/interface/bridge/port",
    "/interface/bridge/vlan",
    "/interface/bridge/settings",
    "/ip/firewall/connection/tracking",
    "/ip/neighbor/discovery-settings",
    "/ip/settings",
    "/ipv6/settings",
    "/interface/detect-internet",
    "/interface/list/member",
    "/interface/wireguard/peers",
    "/ip/address",
    "/ip/cloud",
    "/ip/dhcp-client",
    "/ip/dhcp-server/lease",
    "/ip/dhcp-server/network",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/firewall/address-list",
    "/ip/firewall/filter",
    "/ip/firewall/mangle",
    "/ip/firewall/nat",
    "/ip/firewall/raw",
    "/ip/firewall/service-port",
    "/ip/route",
    "/ip/service",
    "/ip/ssh",
    "/ipv6/address",
    "/ipv6/firewall/address-list",
    "/ipv6/firewall/filter",
    "/ipv6/firewall/nat",
    "/ipv6/firewall/raw",
    "/ipv6/route",
    "/routing/ospf/instance",
    "/routing/bgp/connection",
    "/system/clock",
    "/system/identity",
    "/system/logging",
    "/system/note",
    "/system/ntp/client",
    "/system/ntp/client/servers",
    "/system/ntp/server",
    "/system/routerboard/settings",
    "/system/scheduler",
    "/system/script",
    "/tool/mac-server",
    "/tool/mac-server/mac-winbox",
    "/tool/romon",
    "/user/group",
    "/user",
)
_RANK = {menu: rank for rank, menu in enumerate(MENU_ORDER)}

# Characters a value may hold unquoted: the parser takes them literally and RouterOS prints them bare
# (``dst-address-list=!vpn-allowed``, ``fe80::1%ether1``, ``interface=*5``).  Anything else is quoted.
_BARE = frozenset(string.ascii_letters + string.digits + "-_.,/:!*@+%")
# Inside quotes: the escapes the console uses; other control and all non-ASCII characters go out as
# their UTF-8 bytes, ``\XX`` each.
_QUOTED_ESCAPES = {'"': '\\"', "\\": "\\\\", "$": "\\$", "?": "\\?", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quoted(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _QUOTED_ESCAPES:
            out.append(_QUOTED_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            # surrogatepass: a lone surrogate is written as the parser would read it written literally.
            out.extend(f"\\{byte:02X}" for byte in ch.encode("utf-8", errors="surrogatepass"))
    out.append('"')
    return "".join(out)


def _word(text: str) -> str:
    """A key or value as the console prints it: bare when it can be, quoted and escaped otherwise."""
    return text if text and set(text) <= _BARE else _quoted(text)


def _item_name(name: str) -> str:
    """The item of ``set NAME``; ``[ find name=... ]`` where a bare name would be read as an id or number."""
    looks_like_number = all(part.isdigit() for part in name.split(","))
    if name and set(name) <= _BARE and not name.startswith("*") and not looks_like_number:
        return name
    return f"[ find name={_word(name)} ]"


def _header(menu: str) -> str:
    parts = menu.strip("/").split("/")
    for part in parts:
        # A segment the parser would read as a command (or reject) cannot be written back faithfully.
        if not part or not set(part) <= _MENU_CHARS or part in _COMMANDS | _OTHER_COMMANDS:
            raise ValueError(f"menu {menu!r} cannot be written as an export header")
    return "/" + " ".join(parts)


def _arguments(record: Record, omit: Iterable[str] = ()) -> str:
    skip = set(omit)
    args = []
    for key in sorted(record):
        if key in skip or key in RUNTIME_PROPERTIES or key in SENSITIVE_PROPERTIES or key.startswith("."):
            continue
        if not key:
            raise ValueError("a property without a name cannot be written")
        args.append(f"{_word(key)}={_word(record[key])}")
    return "".join(" " + arg for arg in args)


def _unique(records: Iterable[Record], key: str) -> set[str]:
    """Values of ``key`` held by exactly one record: only those address one item in ``set``."""
    counts = Counter(r[key] for r in records if r.get(key))
    return {value for value, count in counts.items() if count == 1}


def _menu_lines(menu: str, records: tuple[Record, ...]) -> list[str]:
    lines = [_header(menu)]
    if menu in SINGLETON_MENUS and len(records) == 1:
        lines.append("set" + _arguments(records[0]))
        return lines
    # A set that misses creates its item from the selector (see the parser), so the order of records
    # is kept whichever form each takes; a selector shared by two records would merge them, hence _unique.
    by_default_name = _unique(records, "default-name")
    by_name = _unique(records, "name") if menu in NAMED_FIXED_MENUS else set()
    for record in records:
        default_name = record.get("default-name", "")
        name = record.get("name")
        if default_name in by_default_name and name is not None:
            # An unrenamed port is written without name=: the parser names it after its default.
            omit = ["default-name", "name"] if name == default_name else ["default-name"]
            lines.append(f"set [ find default-name={_word(default_name)} ]" + _arguments(record, omit))
        elif name is not None and name in by_name:
            lines.append(f"set {_item_name(name)}" + _arguments(record, ["name"]))
        else:
            lines.append("add" + _arguments(record))
    return lines


def render_rsc(config: RouterConfig, *, header: str | None = None) -> str:
    """The configuration as the text of a RouterOS ``/export``, readable by :func:`~.rsc.parse_rsc`.

    Dynamic records and run-time properties (``.id`` and other ``.``-properties, ``dynamic``,
    ``invalid``, ``bytes``, ``packets``) are left out; every other record and value is written so that
    parsing the text gives it back unchanged and in order.  Menus without records are kept as bare
    headers.  ``header`` becomes ``#`` comment lines at the top (e.g. where and when it was read).

    Raises :class:`ValueError` for what an export cannot express: a menu path segment outside
    ``[a-z0-9-]`` or named like a console command, a property without a name.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header is not None else []
    for menu in sorted(config.menus, key=lambda m: (_RANK.get(m, len(_RANK)), m)):
        records = tuple(r for r in config.menus[menu] if not as_bool(r.get("dynamic")))
        lines += _menu_lines(menu, records)
    return "".join(line + "\n" for line in lines)
