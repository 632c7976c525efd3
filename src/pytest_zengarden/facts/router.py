"""A RouterOS configuration as data: menus of records, whatever it was read from.

The live clients (API, REST) and the offline `.rsc` parser all produce a :class:`RouterConfig`, so the
evaluators that judge a router never know where the configuration came from.  Values are kept as the
strings RouterOS prints; :func:`as_bool` and :func:`split_list` interpret them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Record = Mapping[str, str]

# /ip/service entries of RouterOS 7 and their factory ports.
SERVICE_PORTS: Mapping[str, int] = MappingProxyType(
    {"telnet": 23, "ftp": 21, "www": 80, "ssh": 22, "www-ssl": 443, "api": 8728, "winbox": 8291, "api-ssl": 8729}
)

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


@dataclass(frozen=True)
class RouterConfig:
    """An immutable snapshot of a router's configuration, keyed by canonical menu path.

    ``source`` names where it came from (``router.rsc``, ``api://192.168.77.1:8729``) so findings can
    say which configuration they judged.
    """

    menus: Mapping[str, tuple[Record, ...]] = field(default_factory=dict)
    source: str = "<memory>"

    @classmethod
    def from_records(cls, menus: Mapping[str, Iterable[Mapping[str, object]]], source: str) -> RouterConfig:
        frozen = {
            normalize_menu(menu): tuple(
                MappingProxyType({str(k): stringify(v) for k, v in rec.items()}) for rec in records
            )
            for menu, records in menus.items()
        }
        return cls(menus=MappingProxyType(frozen), source=source)

    def items(self, menu: str) -> tuple[Record, ...]:
        """Records of a menu in print order (``()`` if the menu is absent)."""
        return self.menus.get(normalize_menu(menu), ())

    def active(self, menu: str) -> tuple[Record, ...]:
        """Records that are neither disabled nor dynamic: those that take effect and can be edited."""
        return tuple(r for r in self.items(menu) if not as_bool(r.get("disabled")) and not as_bool(r.get("dynamic")))

    def find(self, menu: str, **match: str) -> tuple[Record, ...]:
        """Records of ``menu`` whose named properties equal the given strings."""
        return tuple(r for r in self.items(menu) if all(r.get(k) == v for k, v in match.items()))
