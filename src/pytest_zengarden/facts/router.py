"""A RouterOS configuration as data: menus of records, whatever it was read from.

The live clients (API, REST) and the offline `.rsc` parser all produce a :class:`RouterConfig`, so the
evaluators that judge a router never know where the configuration came from.  Values are kept as the
strings RouterOS prints; :func:`as_bool` and :func:`split_list` interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..errors import ZengardenError
from . import routeros_defaults
from .routeros_defaults import SERVICE_PORTS as SERVICE_PORTS
from .routeros_defaults import complete

Record = Mapping[str, str]

# The menus completed with RouterOS 7 factory defaults: exactly those the evaluators declare in READS.
FACT_MENUS = routeros_defaults.MENUS

_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


def normalize_menu(menu: str) -> str:
    """Canonical menu path: ``/ip firewall filter`` and ``ip/firewall/filter`` become ``/ip/firewall/filter``."""
    parts = [p for p in menu.replace("/", " ").split() if p]
    return "/" + "/".join(parts)


def as_bool(value: object, default: bool = False) -> bool:
    """Interpret a RouterOS boolean (``yes``/``no`` in exports and API input, ``true``/``false`` in output)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a RouterOS boolean: {value!r}")


def split_list(value: str | None) -> list[str]:
    """Split a RouterOS comma list (``22,80,443``, ``established,related``); empty gives ``[]``."""
    if not value:
        return []
    return [v.strip() for v in str(value).split(",") if v.strip()]


def stringify(value: object) -> str:
    """A value as RouterOS prints it: booleans as ``true``/``false``, everything else as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class UnreadMenu(ZengardenError):
    """A menu was asked of a configuration that does not hold it: it was never read, or not declared."""


@dataclass(frozen=True)
class RouterConfig:
    """An immutable snapshot of a router's configuration, keyed by canonical menu path.

    ``source`` names where it came from (``router.rsc``, ``api://192.168.77.1:8729``) so findings can
    say which configuration they judged.  ``readable``: the menus :meth:`items` may be asked for
    (``None``: any, an absent menu being empty, as for an export or a hand-built configuration).  A
    live reading (:meth:`from_device` with ``read``) is readable only in the menus that were printed,
    so a check that reads a menu nobody fetched errors instead of judging an empty menu.
    """

    menus: Mapping[str, tuple[Record, ...]] = field(default_factory=dict)
    source: str = "<memory>"
    readable: frozenset[str] | None = None

    @classmethod
    def from_records(cls, menus: Mapping[str, Iterable[Mapping[str, object]]], source: str) -> RouterConfig:
        """The records exactly as given (values as strings): no defaults, any menu readable."""
        frozen = {
            normalize_menu(menu): tuple(
                MappingProxyType({str(k): stringify(v) for k, v in rec.items()}) for rec in records
            )
            for menu, records in menus.items()
        }
        return cls(menus=MappingProxyType(frozen), source=source)

    @classmethod
    def from_device(
        cls,
        menus: Mapping[str, Iterable[Mapping[str, object]]],
        source: str,
        *,
        read: Iterable[str] | None = None,
    ) -> RouterConfig:
        """A router's facts from what it reported: an export's records, or a live print's.

        Completed with RouterOS 7 factory defaults (:mod:`.routeros_defaults`), so an export, which omits
        everything at its default, and a print of the same router give equal :meth:`facts`.  ``read``:
        the menus a live reader printed in full; ``None`` for an export, which covers the whole
        configuration (a menu it does not mention is at its factory state).
        """
        raw = {
            normalize_menu(menu): [{str(k): stringify(v) for k, v in rec.items()} for rec in records]
            for menu, records in menus.items()
        }
        fetched = None if read is None else frozenset(normalize_menu(m) for m in read)
        config = cls.from_records(complete(raw, fetched), source)
        # An export holds the whole configuration: a menu it lacks is empty (or, in FACT_MENUS, at its
        # factory state).  A live reading holds what was printed: any other menu is unknown.
        return config if fetched is None else replace(config, readable=fetched)

    def only(self, menus: Iterable[str]) -> RouterConfig:
        """This configuration, readable only in ``menus``: an evaluator's declared reads, checked in tests."""
        allowed = frozenset(normalize_menu(m) for m in menus)
        return replace(self, readable=allowed if self.readable is None else allowed & self.readable)

    def facts(self, menus: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
        """The readable menus (or ``menus``) as plain data without ``.id``: what two readings must agree on.

        An export has no ids (the parser numbers its records), so ids are how a print and an export of
        the same router differ while meaning the same.
        """
        names = sorted(self.readable if self.readable is not None else self.menus) if menus is None else menus
        return {normalize_menu(m): [{k: v for k, v in r.items() if k != ".id"} for r in self.items(m)] for m in names}

    def items(self, menu: str) -> tuple[Record, ...]:
        """Records of a menu in print order (``()`` if an absent menu; :class:`UnreadMenu` if not readable)."""
        key = normalize_menu(menu)
        if self.readable is not None and key not in self.readable:
            raise UnreadMenu(
                f"{self.source}: {key} is not among the menus read ({', '.join(sorted(self.readable)) or 'none'}); "
                "an evaluator that reads it must declare it in its READS, with its factory defaults in "
                "facts/routeros_defaults.py"
            )
        return self.menus.get(key, ())

    def active(self, menu: str) -> tuple[Record, ...]:
        """Records that are neither disabled nor dynamic: those that take effect and can be edited."""
        return tuple(r for r in self.items(menu) if not as_bool(r.get("disabled")) and not as_bool(r.get("dynamic")))

    def find(self, menu: str, **match: str) -> tuple[Record, ...]:
        """Records of ``menu`` whose named properties equal the given strings."""
        return tuple(r for r in self.items(menu) if all(r.get(k) == v for k, v in match.items()))


# --- interfaces: what runs on what ---------------------------------------------------------------------

# Interfaces that run on top of another one, named by their ``interface=`` property, and what they are.
# A DHCP client is no interface: the address it gets sits on the interface it runs on.  An LTE modem is
# its own port (``lte1``), never stacked on an ethernet port.
STACKED_MENUS: Mapping[str, str] = MappingProxyType(
    {"/interface/vlan": "VLAN", "/interface/pppoe-client": "PPPoE client", "/interface/macvlan": "MACVLAN"}
)
# What :func:`uplink` reads: every place a logical interface or a default route can come from.
UPLINK_READS: tuple[str, ...] = (
    *STACKED_MENUS,
    "/interface/bridge/port",
    "/ip/address",
    "/ip/dhcp-client",
    "/ip/route",
)


class RouterFactsError(ZengardenError):
    """The configuration does not say what a check needs to know (named, never guessed)."""


def _enabled(config: RouterConfig, menu: str) -> tuple[Record, ...]:
    # A record without ``disabled`` has the factory value: a PPPoE client is added disabled.
    spec = FACT_MENUS.get(normalize_menu(menu))
    default = as_bool(spec.defaults.get("disabled")) if spec is not None else False
    return tuple(
        r for r in config.items(menu) if not as_bool(r.get("disabled"), default) and not as_bool(r.get("dynamic"))
    )


@dataclass(frozen=True)
class Uplink:
    """How the router uses one of its ports: the interface its IP packets enter and leave by.

    ``layers`` runs from the port to that interface (``ether1``, ``vlan7``, ``pppoe-out1``): the firewall
    and NAT see ``interface`` (``in-interface=pppoe-out1``), never the port underneath.
    """

    port: str
    interface: str
    layers: tuple[str, ...]
    kinds: tuple[str, ...]  # what each layer above the port is ("PPPoE client", "VLAN", "bridge")

    @property
    def stacked(self) -> bool:
        """Whether the router uses the port through another interface (not the port itself)."""
        return self.interface != self.port

    def describe(self) -> str:
        """``pppoe-out1 (PPPoE client over vlan7 over ether1)``, or just ``ether1``."""
        if not self.stacked:
            return self.port
        return f"{self.interface} ({self.kinds[-1]} over {' over '.join(reversed(self.layers[:-1]))})"


def _above(config: RouterConfig, iface: str) -> list[tuple[str, str]]:
    """(interface, kind) running directly on ``iface``: its bridge, VLANs, PPPoE clients."""
    out = [
        (r.get("bridge", ""), "bridge")
        for r in _enabled(config, "/interface/bridge/port")
        if r.get("interface") == iface
    ]
    for menu, kind in STACKED_MENUS.items():
        out += [(r.get("name", ""), kind) for r in _enabled(config, menu) if r.get("interface") == iface]
    return [(name, kind) for name, kind in out if name]


def _default_route_on(config: RouterConfig, iface: str) -> bool:
    """Whether the router sends internet-bound traffic out of ``iface`` (a default route points there)."""
    for r in _enabled(config, "/interface/pppoe-client"):
        if r.get("name") == iface and as_bool(r.get("add-default-route")):
            return True
    for r in _enabled(config, "/ip/dhcp-client"):
        # yes | no | special-classless (RFC 3442 routes, a default among them): an enum, not a boolean.
        if r.get("interface") == iface and r.get("add-default-route", "yes") in ("yes", "true", "special-classless"):
            return True
    for r in _enabled(config, "/ip/route"):
        if r.get("dst-address", "0.0.0.0/0") not in ("0.0.0.0/0", ""):
            continue
        for gateway in split_list(r.get("gateway")):
            if gateway == iface or gateway.endswith(f"%{iface}"):
                return True
    return False


def _carries_ip(config: RouterConfig, iface: str) -> bool:
    return any(
        r.get("interface") == iface for menu in ("/ip/address", "/ip/dhcp-client") for r in _enabled(config, menu)
    )


def uplink(config: RouterConfig, port: str) -> Uplink:
    """The interface the router really uses on ``port``: the PPPoE client, VLAN or bridge on top of it.

    Follows what runs on the port (its bridge, VLANs and PPPoE clients on those, ...) up to the
    interfaces that carry IP: the tops of that stack, and any layer with an address or a DHCP client.
    One such interface is the answer; among several, the one the default route leaves by.  Nothing on
    top of the port: the port itself.
    """
    paths: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {port: ((port,), ())}
    todo = [port]
    candidates: list[str] = []
    tops: list[str] = []
    while todo:
        iface = todo.pop(0)
        layers, kinds = paths[iface]
        above = [(n, k) for n, k in _above(config, iface) if n not in paths]
        for name, kind in above:
            paths[name] = ((*layers, name), (*kinds, kind))
            todo.append(name)
        if not above:
            tops.append(iface)
        if not above or _carries_ip(config, iface):
            candidates.append(iface)
    routed = [c for c in candidates if _default_route_on(config, c)]
    # A client stacked on the port is there to be used: a DHCP client left on the port underneath
    # (the factory configuration's) does not make the choice ambiguous.
    for pool in ([c for c in routed if c in tops], routed, tops):
        if len(pool) == 1:
            layers, kinds = paths[pool[0]]
            return Uplink(port, pool[0], layers, kinds)
    raise RouterFactsError(
        f"{config.source}: {port} carries {', '.join(candidates)} and which of them reaches the internet is not "
        "known; give the router one default route (add-default-route=yes on one client, or "
        "/ip route add dst-address=0.0.0.0/0 gateway=<interface>)"
    )


def interface_list_members(config: RouterConfig, name: str, seen: tuple[str, ...] = ()) -> frozenset[str] | None:
    """Members of interface list ``name`` with its ``include``/``exclude`` (``None`` for the built-in ``all``).

    ``ValueError`` for a list that does not exist, includes itself, or depends on run-time state.
    """
    if name == "all":
        return None
    if name == "none":
        return frozenset()
    if name in ("dynamic", "static"):
        raise ValueError(f"interface list {name!r} depends on run-time state")
    if name in seen:
        raise ValueError(f"interface list {name!r} includes itself")
    rows = [r for r in config.items("/interface/list/member") if r.get("list") == name]
    members = {r.get("interface", "") for r in rows if not as_bool(r.get("disabled"))}
    specs = [r for r in config.items("/interface/list") if r.get("name") == name]
    if not specs and not rows:  # a member, even a disabled one, exists only in a list that does
        raise ValueError(f"interface list {name!r} does not exist")
    spec = specs[0] if specs else {}
    for key, add in (("include", True), ("exclude", False)):
        for other in split_list(spec.get(key)):
            sub = interface_list_members(config, other, (*seen, name))
            if sub is None:
                raise ValueError(f"interface list {name!r} {key}s 'all'")
            members = members | sub if add else members - sub
    return frozenset(members)
