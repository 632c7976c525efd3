"""The emulated router's configuration: menus of records, RouterOS command semantics, persistence.

:class:`ConfigStore` is the single source of truth behind both the API and the REST server, so the
two views can never disagree.  Every write runs under one lock and is transactional: the change is
made, the ``on_change`` hook (the lab's compile-and-apply step) is called with the new snapshot, the
state is persisted atomically, and if the hook or the write fails the store is restored, so a
client either sees its change applied everywhere or gets an error and nothing changed.

Safe Mode (RouterOS 7.18+ ``/safe-mode take|release|unroll``) is modelled on sessions
(:meth:`ConfigStore.open_session`; the API server opens one per login and closes it when the
connection ends, however it ends).  One session at a time holds it; ``take`` checkpoints the
store, ``release`` keeps everything, ``unroll`` - and the holder's session ending without a release
(connection dropped or reset, TLS closed, ``/quit``) - restores the checkpoint, runs ``on_change``
and persists.  As on RouterOS, changes by *other* sessions while it is held are undone too (the
manual: "all configuration changes that are made (also from other login sessions)") and count
toward the 100 actions the history holds: the 101st change ends safe mode silently and nothing is
undone afterwards.  While held, the state file also carries the checkpoint, so an emulator killed
meanwhile comes back with the changes undone, like a router rebooted in safe mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ...facts.router import RouterConfig, normalize_menu
from . import keys
from .query import Query
from .schema import (
    BUILTIN_INTERFACE_LISTS,
    MENUS,
    MSG,
    REF_MENUS,
    SAFE_MODE_COMMANDS,
    SAFE_MODE_MAX_ACTIONS,
    SAFE_MODE_MENU,
    SERVICES,
    MenuSpec,
    Prop,
    RouterOsError,
    StoreOptions,
    commands_of,
    directories,
)

__all__ = ["ChangeHook", "CommandResult", "ConfigStore", "RouterOsError", "Session", "StoreOptions"]

LOG = logging.getLogger("pytest_zengarden.lab.routeros")

ChangeHook = Callable[[RouterConfig], None]
T = TypeVar("T")
_State = tuple[dict[str, list[dict[str, str]]], int, dict[str, str]]  # menus, next id, password hashes

_STATE_FORMAT = "pytest-zengarden-routeros-state"
_PBKDF2_ROUNDS = 20_000  # cheap enough for one hash per login, yet not a plain digest on disk
_ID = re.compile(r"\*([0-9A-F]+)")
_PORTS = re.compile(r"!?\d+(-\d+)?(,\d+(-\d+)?)*")
_PORT_PROTOCOLS = frozenset({"tcp", "udp", "udp-lite", "sctp", "dccp", "6", "17", "33", "132", "136"})
_PRINT_FLAGS = frozenset({"detail", "stats", "terse", "without-paging", "brief", "value-list", "show-ids"})
_DIRECTORIES = directories()


@dataclass
class CommandResult:
    """What a command answers: ``rows`` become ``!re`` sentences, ``done`` the ``!done`` attributes."""

    rows: list[dict[str, str]] = field(default_factory=list)
    done: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class Session:
    """One client session as the store sees it (identity: one API connection), for Safe Mode."""

    user: str
    label: str
    closed: bool = False


@dataclass(eq=False)
class _SafeMode:
    holder: Session
    saved: _State  # the store at take
    actions: int = 0  # changes recorded since take (any session's)


def format_id(number: int) -> str:
    """RouterOS item id: ``*`` and uppercase hex (``*1``, ``*A``, ``*1F``)."""
    return f"*{number:X}"


def _split(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    return [p.strip() for p in parts if p.strip()]


def unknown_component(path: str) -> str:
    """The first component of ``path`` that is neither a menu nor a directory (for error messages)."""
    parts = [p for p in path.split("/") if p]
    current = ""
    for part in parts:
        current += "/" + part
        if current not in _DIRECTORIES:
            return part
    return parts[-1] if parts else ""


def _hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _PBKDF2_ROUNDS)
    return f"pbkdf2-sha256${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def _verify_password(password: str, stored: str) -> bool:
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != "pbkdf2-sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(rounds))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def _uptime(seconds: float) -> str:
    """RouterOS duration format: ``1w2d3h4m5s`` (zero units left out)."""
    total = int(seconds)
    out = ""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out + f"{total}s" if total or not out else out


def _mac(number: int) -> str:
    """A stable locally administered MAC for an interface id (what the lab's veths would not know)."""
    return "0E:5A:" + ":".join(f"{b:02X}" for b in number.to_bytes(4, "big"))


def _as_text(name: str, value: object) -> str:
    """An input value as RouterOS text: REST sends JSON strings, numbers and booleans, the API text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise RouterOsError(MSG["invalid_value"].format(name), 1)


def _coerce(name: str, prop: Prop, value: object) -> str | None:
    """Validate and normalise one property value; ``None`` means "unset" (an empty value)."""
    text = _as_text(name, value).strip() if prop.kind != "str" else _as_text(name, value)
    if text == "":
        if prop.required:
            raise RouterOsError(MSG["invalid_value"].format(name), 1)
        return None
    if prop.kind == "bool":
        lowered = text.lower()
        if lowered in ("yes", "true"):
            return "true"
        if lowered in ("no", "false"):
            return "false"
        raise RouterOsError(MSG["invalid_value"].format(name), 1)
    if prop.kind == "int":
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise RouterOsError(MSG["invalid_value"].format(name), 1) from None
        return str(number)
    if prop.kind == "enum":
        if text not in prop.choices:
            raise RouterOsError(MSG["no_match"].format(name), 1)
        return text
    if prop.kind == "flags":
        items = _split(text[1:] if text.startswith("!") else text)
        if not items or any(item not in prop.choices for item in items):
            raise RouterOsError(MSG["no_match"].format(name), 1)
        return ("!" if text.startswith("!") else "") + ",".join(items)
    if prop.kind == "ports":
        compact = text.replace(" ", "")
        numbers = [int(n) for n in re.findall(r"\d+", compact)]
        if not _PORTS.fullmatch(compact) or any(n > 65535 for n in numbers):
            raise RouterOsError(MSG["invalid_value"].format(name), 1)
        return compact
    return text


def _validate_ip_address(rec: Mapping[str, str]) -> None:
    try:
        ipaddress.ip_interface(rec["address"])
    except (KeyError, ValueError):
        raise RouterOsError(MSG["invalid_value"].format("address"), 1) from None


def _apply_error(exc: Exception) -> RouterOsError:
    """What a client sees when the apply hook refused a change."""
    if isinstance(exc, RouterOsError):
        return exc
    return RouterOsError(str(exc) or type(exc).__name__, 4)


def _save_error(exc: OSError) -> RouterOsError:
    return RouterOsError(f"failure: could not save configuration ({exc.strerror or exc})", 4)


# Per-menu checks that need more than the schema (kept here because they use ipaddress/keys).
_EXTRA_CHECKS: dict[str, Callable[[Mapping[str, str]], None]] = {"/ip/address": _validate_ip_address}


class ConfigStore:
    """The router's configuration, thread-safe behind one re-entrant lock, optionally persisted as JSON.

    ``path``: state file, loaded if it exists and rewritten atomically after every change.
    ``users``: name -> password ensured at start (group ``full``), e.g. from the CLI.
    ``on_change``: called with :meth:`snapshot` (``include_secrets=True``: the apply step needs the
    WireGuard keys) after every successful write, still under the lock so writes are applied in
    order; if it raises, the write is undone and the client sees the exception's message.  The hook
    may read the store from its own thread (the lock is re-entrant) but must not wait for another
    thread that writes to it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        options: StoreOptions | None = None,
        users: Mapping[str, str] | None = None,
        on_change: ChangeHook | None = None,
    ):
        self._lock = threading.RLock()
        self._path = Path(path) if path is not None else None
        self.options = options or StoreOptions()
        self.on_change = on_change
        self._started = time.monotonic()
        self._menus: dict[str, list[dict[str, str]]] = {}
        self._passwords: dict[str, str] = {}  # user .id -> salted hash; never printed nor snapshotted
        self._next_id = 1
        # Successful logins, keyed by an HMAC of name+password under a per-process key, so the REST
        # server does not run PBKDF2 on every request; cleared whenever /user changes.
        self._auth_key = os.urandom(32)
        self._auth_ok: set[bytes] = set()
        self._safe: _SafeMode | None = None
        self._sessions: set[Session] = set()
        self._sessions_changed = threading.Condition(self._lock)
        with self._lock:
            if self._path is not None and self._path.exists():
                self._load(self._path)
            self._seed()
            for name, password in (users or {}).items():
                self._ensure_user_locked(name, password, "full")
            if self._path is not None:
                self._persist()

    # ----------------------------------------------------------------------------------- state

    def _seed(self) -> None:
        """Create missing menus, the fixed /ip/service entries and the lab's physical interfaces."""
        for path, spec in MENUS.items():
            if path not in self._menus:
                self._menus[path] = [{}] if spec.kind in ("singleton", "readonly") else []
                if path == "/ipv6/nd":
                    # Every router has the default ND entry (flag ``*``): RA on all interfaces.
                    self._menus[path].append({".id": self._new_id(), "interface": "all", "default": "true"})
        services = self._menus["/ip/service"]
        have = {r.get("name") for r in services}
        for name, port, extra in SERVICES:
            if name not in have:
                services.append({".id": self._new_id(), "name": name, "port": port, **extra})
        # /interface mirrors what the lab reports: keep known ports (their comments), add new, drop gone.
        wanted = list(self.options.interfaces)
        old = {r.get("name"): r for r in self._menus["/interface"]}
        physical: list[dict[str, str]] = []
        for name in wanted:
            rec = old.get(name)
            if rec is None:
                new_id = self._new_id()
                rec = {
                    ".id": new_id,
                    "name": name,
                    "default-name": name,
                    "type": "ether",
                    "mac-address": _mac(int(new_id[1:], 16)),
                }
            physical.append(rec)
        self._menus["/interface"] = physical

    def _new_id(self) -> str:
        number = self._next_id
        self._next_id += 1
        return format_id(number)

    def _save_state(self) -> _State:
        return ({m: [dict(r) for r in recs] for m, recs in self._menus.items()}, self._next_id, dict(self._passwords))

    def _restore(self, saved: _State) -> None:
        menus, next_id, passwords = saved
        self._menus = menus
        # Ids stay monotonic even across a rolled-back add: an id a client may have seen is never reused.
        self._next_id = max(self._next_id, next_id)
        self._passwords = passwords
        self._auth_ok.clear()

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read emulator state ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT:
            raise ValueError(f"{path}: not an emulator state file (format {_STATE_FORMAT!r} expected)")
        source: dict[str, Any] = data
        checkpoint = data.get("safe_mode")
        if checkpoint is not None:
            if not isinstance(checkpoint, dict):
                raise ValueError(f"{path}: 'safe_mode' must be an object")
            # The session that held Safe Mode did not survive the stop: its changes are undone.
            LOG.warning("%s: Safe Mode was held when the emulator stopped; its changes are undone", path)
            source = checkpoint
        self._menus.update(self._parse_menus(path, source.get("menus", {})))
        passwords = source.get("passwords", {})
        if not isinstance(passwords, dict) or not all(isinstance(v, str) for v in passwords.values()):
            raise ValueError(f"{path}: 'passwords' must map ids to hashes")
        self._passwords = dict(passwords)
        # The counter of the newest state: ids issued after take are never reissued after the undo.
        next_id = data.get("next_id", 1)
        if not isinstance(next_id, int) or next_id < 1:
            raise ValueError(f"{path}: 'next_id' must be a positive integer")
        # Never trust the counter alone: an id must not be reissued even if the file was hand-edited.
        highest = max(
            (
                int(m.group(1), 16)
                for recs in self._menus.values()
                for r in recs
                if (m := _ID.fullmatch(r.get(".id", "")))
            ),
            default=0,
        )
        self._next_id = max(next_id, highest + 1)

    @staticmethod
    def _parse_menus(path: Path, menus: object) -> dict[str, list[dict[str, str]]]:
        if not isinstance(menus, dict):
            raise ValueError(f"{path}: 'menus' must be an object")
        out: dict[str, list[dict[str, str]]] = {}
        for menu, records in menus.items():
            if menu not in MENUS:
                LOG.warning("%s: ignoring unknown menu %s", path, menu)
                continue
            if not isinstance(records, list) or not all(
                isinstance(r, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in r.items())
                for r in records
            ):
                raise ValueError(f"{path}: menu {menu} must be a list of string maps")
            out[menu] = [dict(r) for r in records]
        return out

    def _persist(self) -> None:
        """Write the state atomically: a temp file in the same directory, fsync, rename over the old one."""
        if self._path is None:
            return
        data = {
            "format": _STATE_FORMAT,
            "version": 1,
            "next_id": self._next_id,
            "menus": self._menus,
            "passwords": self._passwords,
        }
        if self._safe is not None:
            menus, _, passwords = self._safe.saved
            data["safe_mode"] = {"user": self._safe.holder.user, "menus": menus, "passwords": passwords}
        directory = self._path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
        try:
            # The file holds password hashes and WireGuard keys: owner-only from the first byte.
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _write(self, menu: str, change: Callable[[], T]) -> T:
        """Run ``change`` as a transaction: hook, persist, or roll everything back."""
        with self._lock:
            saved = self._save_state()
            try:
                result = change()
            except BaseException:
                self._restore(saved)
                raise
            if menu == "/user":
                self._auth_ok.clear()
            hook = self.on_change
            if hook is not None:
                try:
                    hook(self._snapshot_locked(include_secrets=True))
                except Exception as exc:
                    self._restore(saved)
                    LOG.warning("apply failed, change to %s rolled back: %s", menu, exc)
                    raise _apply_error(exc) from exc
            safe = self._safe
            recorded = safe.actions if safe is not None else 0
            if safe is not None:
                if safe.actions >= SAFE_MODE_MAX_ACTIONS:
                    # No room in the history: the holder silently leaves safe mode, nothing is undone.
                    self._safe = None
                    LOG.info("%s: Safe Mode dropped after %d actions; changes kept", safe.holder.label, recorded)
                else:
                    safe.actions += 1
            try:
                self._persist()
            except OSError as exc:
                self._restore(saved)
                self._safe = safe
                if safe is not None:
                    safe.actions = recorded
                if hook is not None:
                    # The dataplane already took the change: put it back to the restored state.
                    with contextlib.suppress(Exception):
                        hook(self._snapshot_locked(include_secrets=True))
                raise _save_error(exc) from exc
            return result

    # ----------------------------------------------------------------------------------- views

    @staticmethod
    def spec(menu: str) -> MenuSpec:
        """The schema of ``menu`` (any spelling); unknown menus fail as RouterOS does."""
        path = normalize_menu(menu)
        spec = MENUS.get(path)
        if spec is None:
            if path in _DIRECTORIES:
                raise RouterOsError(MSG["no_prefix"], 0)
            raise RouterOsError(MSG["no_cmd"].format(unknown_component(path)), 0)
        return spec

    @staticmethod
    def menus() -> tuple[str, ...]:
        """Every menu the emulator models, canonical spelling."""
        return tuple(MENUS)

    def _ref_names(self) -> dict[str, set[str]]:
        names = {
            kind: {r.get("name", "") for m in menus for r in self._storage_view(m)} for kind, menus in REF_MENUS.items()
        }
        names["interface-list"] |= BUILTIN_INTERFACE_LISTS
        return names

    def _storage_view(self, menu: str) -> list[dict[str, str]]:
        return self._interfaces() if menu == "/interface" else self._menus[menu]

    def _interfaces(self) -> list[dict[str, str]]:
        """/interface as RouterOS shows it: the physical ports plus every bridge and WireGuard interface.

        Virtual entries share the ``.id`` of their bridge/wireguard record (one id space, as on RouterOS).
        """
        out = [dict(r) for r in self._menus["/interface"]]
        for menu in ("/interface/bridge", "/interface/wireguard"):
            spec = MENUS[menu]
            for rec in self._menus[menu]:
                mtu = rec.get("mtu", spec.props["mtu"].default or "1500")
                entry = {
                    ".id": rec[".id"],
                    "name": rec.get("name", ""),
                    "type": spec.interface_type or "",
                    "mtu": mtu,
                    "actual-mtu": mtu if mtu.isdigit() else "1500",
                }
                if spec.interface_type == "bridge":
                    entry["mac-address"] = _mac(int(rec[".id"][1:], 16))
                for name in ("comment", "disabled"):
                    if name in rec:
                        entry[name] = rec[name]
                out.append(entry)
        out.sort(key=lambda r: int(r[".id"][1:], 16))
        return out

    def _render(self, spec: MenuSpec, rec: Mapping[str, str], refs: Mapping[str, set[str]]) -> dict[str, str]:
        """A stored record as print shows it: ``.id`` first, every set or defaulted property, computed ones."""
        out: dict[str, str] = {}
        if spec.has_ids:
            out[".id"] = rec[".id"]
        for name, prop in spec.props.items():
            if prop.writeonly:
                continue
            value = self._computed(spec, name, rec, refs) if name in spec.computed else None
            if value is None:
                value = rec.get(name, prop.default)
            if value is not None:
                out[name] = value
        return out

    def _computed(self, spec: MenuSpec, name: str, rec: Mapping[str, str], refs: Mapping[str, set[str]]) -> str | None:
        if name == "invalid":
            dangling = any(
                (value := rec.get(prop_name)) and value.removeprefix("!") not in refs[prop.ref]
                for prop_name, prop in spec.props.items()
                if prop.ref is not None
            )
            return "true" if dangling else "false"
        if name == "network" and "address" in rec:
            if "network" in rec:
                return rec["network"]
            with contextlib.suppress(ValueError):
                return str(ipaddress.ip_interface(rec["address"]).network.network_address)
            return None
        if name == "actual-interface":
            return rec.get("interface")
        if name == "advertise" and "address" in rec:
            # RouterOS turns advertise on for /64 addresses (the prefix length SLAAC needs) unless told.
            if "advertise" in rec:
                return rec["advertise"]
            with contextlib.suppress(ValueError):
                return "true" if ipaddress.ip_interface(rec["address"]).network.prefixlen == 64 else "false"
            return None
        if name == "uptime":
            return _uptime(time.monotonic() - self._started)
        return None

    def _view(self, spec: MenuSpec) -> list[dict[str, str]]:
        refs = self._ref_names()
        return [self._render(spec, rec, refs) for rec in self._storage_view(spec.path)]

    def print(
        self,
        menu: str,
        proplist: str | Sequence[str] | None = None,
        query: Sequence[str] | None = None,
    ) -> list[dict[str, str]]:
        """``<menu>/print``: records in order, filtered by RouterOS query words, limited to ``proplist``."""
        spec = self.spec(menu)
        kinds = {name: prop.kind for name, prop in spec.props.items()}
        compiled = Query(query or (), kinds)
        with self._lock:
            rows = self._view(spec)
        if compiled:
            rows = [r for r in rows if compiled.matches(r)]
        names = _split(proplist)
        if names:
            rows = [{n: r[n] for n in names if n in r} for r in rows]
        return rows

    def get(self, menu: str, ident: str, proplist: str | Sequence[str] | None = None) -> dict[str, str]:
        """One record by ``.id`` (or by name in named menus); ``no such item`` otherwise."""
        spec = self.spec(menu)
        with self._lock:
            if not spec.has_ids:
                raise RouterOsError(MSG["no_item"], 0)
            (item_id,) = self._resolve(spec, [ident])
            row = next(r for r in self._view(spec) if r[".id"] == item_id)
        names = _split(proplist)
        return {n: row[n] for n in names if n in row} if names else row

    def snapshot(self, include_secrets: bool = False) -> RouterConfig:
        """Every menu as a :class:`RouterConfig` (source ``emulator``); never user passwords.

        ``include_secrets`` keeps WireGuard private/preshared keys, which the lab's apply step needs.
        """
        with self._lock:
            return self._snapshot_locked(include_secrets)

    def _snapshot_locked(self, include_secrets: bool) -> RouterConfig:
        menus: dict[str, list[dict[str, str]]] = {}
        for path, spec in MENUS.items():
            secret = {n for n, p in spec.props.items() if p.secret}
            rows = self._view(spec)
            if secret and not include_secrets:
                rows = [{k: v for k, v in r.items() if k not in secret} for r in rows]
            menus[path] = rows
        return RouterConfig.from_records(menus, source="emulator")

    # ----------------------------------------------------------------------------------- lookup

    def _resolve(self, spec: MenuSpec, idents: Iterable[str]) -> list[str]:
        """Item references (``*A`` ids, or names in named menus) to ids; ``no such item`` if any is missing."""
        records = self._storage_view(spec.path)
        by_id = {r[".id"] for r in records}
        out: list[str] = []
        for ident in idents:
            if ident in by_id:
                out.append(ident)
                continue
            named = [r[".id"] for r in records if spec.key and r.get(spec.key) == ident and not ident.startswith("*")]
            if not named:
                raise RouterOsError(MSG["no_item"], 0)
            out.append(named[0])
        return out

    def _ids_arg(self, spec: MenuSpec, ids: str | Sequence[str] | None) -> list[str]:
        wanted = _split(ids)
        if not wanted:
            raise RouterOsError(MSG["missing"].format("numbers"), 1)
        return self._resolve(spec, wanted)

    # ----------------------------------------------------------------------------------- checks

    def _check(self, spec: MenuSpec, rec: dict[str, str], changed: Iterable[str], own_id: str | None) -> None:
        """Record-level rules after an add/set: required, references, uniqueness, menu checks."""
        for name, prop in spec.props.items():
            if prop.required and not rec.get(name):
                raise RouterOsError(MSG["missing"].format(name), 1)
        refs = self._ref_names()
        if self.options.validate_references:
            for name in changed:
                ref_prop = spec.props.get(name)
                value = rec.get(name)
                if ref_prop is None or ref_prop.ref is None or not value:
                    continue
                target = value[1:] if ref_prop.negatable and value.startswith("!") else value
                if target not in refs[ref_prop.ref]:
                    kind = "interface" if ref_prop.ref == "wireguard" else ref_prop.ref
                    raise RouterOsError(MSG["no_match"].format(kind), 1)
        if spec.path == "/interface/list" and rec.get("name") in BUILTIN_INTERFACE_LISTS:
            raise RouterOsError(MSG["duplicate"], 4)  # all/none/dynamic/static exist on every router
        if spec.interface_type is not None and "name" in rec:
            others = {r.get("name") for r in self._interfaces() if r[".id"] != own_id}
            if rec["name"] in others:
                raise RouterOsError(MSG["dup_interface"], 4)
        for keys_, message in spec.unique:
            mine = tuple(rec.get(k) for k in keys_)
            for other in self._menus[spec.path]:
                if other.get(".id") != own_id and tuple(other.get(k) for k in keys_) == mine:
                    raise RouterOsError(MSG[message], 4)
        uses_ports = any(rec.get(p) for p in ("src-port", "dst-port", "port"))
        port_protocol = rec.get("protocol", "").removeprefix("!") in _PORT_PROTOCOLS
        if self.options.require_port_protocol and uses_ports and not port_protocol:
            raise RouterOsError("failure: port can be set only for tcp, udp, udp-lite, sctp or dccp", 4)
        if spec.validate is not None:
            spec.validate(rec)
        extra = _EXTRA_CHECKS.get(spec.path)
        if extra is not None:
            extra(rec)

    def _apply_props(self, spec: MenuSpec, rec: dict[str, str], props: Mapping[str, object]) -> str | None:
        """Coerce ``props`` into ``rec`` (in place); returns a new write-only password, if one was given."""
        password: str | None = None
        for name, value in props.items():
            prop = spec.props.get(name)
            if prop is None:
                raise RouterOsError(MSG["unknown_param"].format(name), 1)
            if prop.readonly:
                raise RouterOsError(MSG["readonly_prop"].format(name), 1)
            if prop.writeonly:
                password = _as_text(name, value)
                continue
            text = _coerce(name, prop, value)
            if text is None:
                rec.pop(name, None)
            else:
                rec[name] = text
        if spec.path == "/interface/wireguard":
            self._wireguard_keys(rec)
        return password

    @staticmethod
    def _wireguard_keys(rec: dict[str, str]) -> None:
        # RouterOS generates a key pair when none is given and derives the public key from the private one.
        if "private-key" not in rec:
            rec["private-key"] = keys.generate_private_key()
        public = keys.public_key(rec["private-key"])
        if public is None:
            raise RouterOsError(MSG["invalid_value"].format("private-key"), 1)
        rec["public-key"] = public

    def _rename_references(self, spec: MenuSpec, old: str, new: str) -> None:
        """RouterOS references items internally, so renaming a bridge or list follows everywhere."""
        kinds = {kind for kind, menus in REF_MENUS.items() if spec.path in menus}
        for other in MENUS.values():
            for name, prop in other.props.items():
                if prop.ref not in kinds:
                    continue
                for rec in self._menus[other.path]:
                    value = rec.get(name)
                    if value == old:
                        rec[name] = new
                    elif prop.negatable and value == "!" + old:
                        rec[name] = "!" + new

    # ----------------------------------------------------------------------------------- writes

    def add(self, menu: str, props: Mapping[str, object]) -> str:
        """``<menu>/add``: a new record at the end (or before ``place-before``); returns its ``.id``."""
        spec = self.spec(menu)
        if spec.kind != "list":
            raise RouterOsError(MSG["no_cmd"].format("add"), 0)

        def change() -> str:
            fields = dict(props)
            before = fields.pop("place-before", None) if spec.ordered else None
            rec: dict[str, str] = {}
            password = self._apply_props(spec, rec, fields)
            if spec.auto_name and not rec.get("name"):
                taken = {r.get("name") for r in self._interfaces()}
                rec["name"] = next(
                    f"{spec.auto_name}{n}" for n in range(1, 10_000) if f"{spec.auto_name}{n}" not in taken
                )
            self._check(spec, rec, rec.keys(), None)
            records = self._menus[spec.path]
            index = len(records)
            if before is not None and _as_text("place-before", before) != "":
                (target,) = self._resolve(spec, [_as_text("place-before", before)])
                index = next(i for i, r in enumerate(records) if r[".id"] == target)
            new_id = self._new_id()
            records.insert(index, {".id": new_id, **rec})
            if spec.path == "/user":
                self._passwords[new_id] = _hash_password(password or "")
            return new_id

        return self._write(spec.path, change)

    def set(self, menu: str, ids: str | Sequence[str] | None, props: Mapping[str, object]) -> None:
        """``<menu>/set``: change properties of the given items (singletons take no ids)."""
        spec = self.spec(menu)
        if spec.kind == "readonly":
            raise RouterOsError(MSG["no_cmd"].format("set"), 0)

        def change() -> None:
            if spec.kind == "singleton":
                # Singletons have no ids; a client that still sends one is tolerated [unverified].
                rec = dict(self._menus[spec.path][0])
                self._apply_props(spec, rec, props)
                self._check(spec, rec, props.keys(), None)
                self._menus[spec.path][0] = rec
                return
            for item_id in self._ids_arg(spec, ids):
                self._set_one(spec, item_id, props)

        self._write(spec.path, change)

    def _locate(self, spec: MenuSpec, item_id: str) -> tuple[MenuSpec, int]:
        """Where an item is stored; virtual /interface entries live in their bridge/wireguard menu."""
        for path in (
            (spec.path, "/interface/bridge", "/interface/wireguard") if spec.path == "/interface" else (spec.path,)
        ):
            for index, rec in enumerate(self._menus[path]):
                if rec.get(".id") == item_id:
                    return MENUS[path], index
        raise RouterOsError(MSG["no_item"], 0)

    def _set_one(self, spec: MenuSpec, item_id: str, props: Mapping[str, object]) -> None:
        # Validate against the menu the client addressed (only comment/disabled on /interface)...
        unknown = [n for n in props if n not in spec.props]
        if unknown:
            raise RouterOsError(MSG["unknown_param"].format(unknown[0]), 1)
        home, index = self._locate(spec, item_id)
        # ...then apply in the menu that stores the item.
        rec = dict(self._menus[home.path][index])
        if home is not spec:
            self._apply_props(spec, {}, props)  # read-only checks of /interface
        old_name = rec.get("name")
        password = self._apply_props(home, rec, props)
        self._check(home, rec, props.keys(), item_id)
        self._menus[home.path][index] = rec
        if home.key == "name" and old_name and rec.get("name") and old_name != rec["name"]:
            self._rename_references(home, old_name, rec["name"])
        if password is not None and home.path == "/user":
            self._passwords[item_id] = _hash_password(password)

    def unset(self, menu: str, ids: str | Sequence[str] | None, names: str | Sequence[str]) -> None:
        """``<menu>/unset value-name=x``: back to the default (or absent)."""
        spec = self.spec(menu)
        props: dict[str, object] = {}
        for name in _split(names):
            prop = spec.props.get(name)
            if prop is None:
                raise RouterOsError(MSG["unknown_param"].format(name), 1)
            if prop.required:
                raise RouterOsError(MSG["invalid_value"].format(name), 1)
            props[name] = ""
        if not props:
            raise RouterOsError(MSG["missing"].format("value-name"), 1)
        self.set(menu, ids, props)

    def remove(self, menu: str, ids: str | Sequence[str] | None) -> None:
        """``<menu>/remove``: delete items (``no such item`` if any is missing; nothing is removed then)."""
        spec = self.spec(menu)
        if spec.kind != "list" and spec.path != "/interface":
            raise RouterOsError(MSG["no_cmd"].format("remove"), 0)

        def change() -> None:
            for item_id in self._ids_arg(spec, ids):
                home, index = self._locate(spec, item_id)
                if home.kind != "list":
                    raise RouterOsError(MSG["physical"], 4)
                del self._menus[home.path][index]
                self._passwords.pop(item_id, None)

        self._write(spec.path, change)

    def move(self, menu: str, ids: str | Sequence[str] | None, destination: str | None = None) -> None:
        """``<menu>/move``: put the items, in the given order, before ``destination`` (or at the end)."""
        spec = self.spec(menu)
        if not spec.ordered:
            raise RouterOsError(MSG["no_cmd"].format("move"), 0)

        def change() -> None:
            moving = list(dict.fromkeys(self._ids_arg(spec, ids)))
            dest = self._resolve(spec, [destination])[0] if destination else None
            records = self._menus[spec.path]
            by_id = {r[".id"]: r for r in records}
            picked = [by_id[i] for i in moving]
            rest = [r for r in records if r[".id"] not in moving]
            index = len(rest)
            if dest is not None:
                # Destination among the moved items: anchor on the first unmoved item after it.
                position = next(i for i, r in enumerate(records) if r[".id"] == dest)
                later = [r[".id"] for r in records[position:] if r[".id"] not in moving]
                index = next((i for i, r in enumerate(rest) if later and r[".id"] == later[0]), len(rest))
            self._menus[spec.path] = rest[:index] + picked + rest[index:]

        self._write(spec.path, change)

    def ensure_user(self, name: str, password: str, group: str = "full") -> None:
        """Create ``name`` (or reset its password): how the CLI's ``--user`` gets a login in."""
        with self._lock:
            self._write("/user", lambda: self._ensure_user_locked(name, password, group))

    def _ensure_user_locked(self, name: str, password: str, group: str) -> None:
        spec = MENUS["/user"]
        for rec in self._menus["/user"]:
            if rec.get("name") == name:
                self._passwords[rec[".id"]] = _hash_password(password)
                return
        rec = {"name": name, "group": group}
        self._check(spec, rec, rec.keys(), None)
        new_id = self._new_id()
        self._menus["/user"].append({".id": new_id, **rec})
        self._passwords[new_id] = _hash_password(password)
        self._auth_ok.clear()

    def check_login(self, user: str, password: str) -> bool:
        """Whether ``user`` may log in with ``password`` (enabled user, matching password)."""
        token = hmac.new(self._auth_key, f"{user}\0{password}".encode("utf-8", "surrogatepass"), "sha256").digest()
        with self._lock:
            if token in self._auth_ok:
                return True
            rec = next((r for r in self._menus["/user"] if r.get("name") == user), None)
            if rec is None or rec.get("disabled") == "true":
                return False
            stored = self._passwords.get(rec[".id"])
        # PBKDF2 outside the lock: a login must not stall other clients' commands.
        ok = _verify_password(password, stored) if stored is not None else password == ""
        if ok:
            with self._lock:
                self._auth_ok.add(token)
        return ok

    def reapply(self) -> None:
        """Run ``on_change`` on the current state (e.g. at start, so the dataplane matches the file)."""
        with self._lock:
            if self.on_change is not None:
                try:
                    self.on_change(self._snapshot_locked(include_secrets=True))
                except RouterOsError:
                    raise
                except Exception as exc:
                    raise RouterOsError(str(exc) or type(exc).__name__, 4) from exc

    # ----------------------------------------------------------------------------------- sessions

    def open_session(self, user: str, label: str) -> Session:
        """A client session (the API opens one per login); :meth:`close_session` when it ends, however."""
        session = Session(user, label)
        with self._lock:
            self._sessions.add(session)
        return session

    def close_session(self, session: Session) -> None:
        """The session is gone; if it held Safe Mode, everything since take is undone (as by unroll).

        No client is left to tell, so a failing apply hook or save is logged and the undo stands:
        the store, not the dataplane, is the router's configuration.
        """
        with self._lock:
            session.closed = True
            self._sessions.discard(session)
            safe = self._safe
            if safe is not None and safe.holder is session:
                LOG.info("%s: session ended in Safe Mode, undoing %d action(s)", session.label, safe.actions)
                self._unroll_locked(safe, strict=False)
            self._sessions_changed.notify_all()

    def wait_sessions_closed(self, timeout: float) -> bool:
        """Block until no session is open (every close handled, Safe Mode undone); ``False`` on timeout."""
        with self._sessions_changed:
            return self._sessions_changed.wait_for(lambda: not self._sessions, timeout)

    @property
    def safe_mode_holder(self) -> Session | None:
        """The session holding Safe Mode, if any."""
        with self._lock:
            return self._safe.holder if self._safe is not None else None

    # ----------------------------------------------------------------------------------- safe mode

    @staticmethod
    def _session_arg(session: Session | None) -> Session:
        if session is None or session.closed:
            raise RouterOsError(MSG["safe_no_session"], 4)
        return session

    def _held_by(self, session: Session | None) -> _SafeMode:
        safe = self._safe
        if session is None or safe is None or safe.holder is not session:
            raise RouterOsError(MSG["safe_not_taken"])  # [unverified] category on the API
        return safe

    def safe_mode_take(self, session: Session | None) -> None:
        """``/safe-mode/take``: checkpoint the store for ``session``; refused while another session holds it.

        Taking it again in the holding session is no error and keeps the first checkpoint (RouterOS 7.21
        answers a second take with success; whether it restarts the checkpoint is not documented).
        """
        owner = self._session_arg(session)
        with self._lock:
            safe = self._safe
            if safe is not None:
                if safe.holder is owner:
                    return
                if safe.holder.user == owner.user:
                    raise RouterOsError(MSG["safe_taken_self"])  # [unverified] as an API !trap
                raise RouterOsError(MSG["safe_taken_other"].format(safe.holder.user))  # [unverified] idem
            self._safe = _SafeMode(owner, self._save_state())
            try:
                self._persist()  # the checkpoint goes to disk too: a killed emulator comes back undone
            except OSError as exc:
                self._safe = None
                raise _save_error(exc) from exc
            LOG.info("%s: Safe Mode taken", owner.label)

    def safe_mode_release(self, session: Session | None) -> None:
        """``/safe-mode/release``: keep every change, leave Safe Mode."""
        with self._lock:
            safe = self._held_by(session)
            self._safe = None
            try:
                self._persist()
            except OSError as exc:
                self._safe = safe
                raise _save_error(exc) from exc
            LOG.info("%s: Safe Mode released, %d action(s) kept", safe.holder.label, safe.actions)

    def safe_mode_unroll(self, session: Session | None) -> None:
        """``/safe-mode/unroll``: back to the state at take (apply hook, persisted), leave Safe Mode.

        Transactional like any write: if the apply hook or the save fails, nothing changes and the
        session still holds Safe Mode.
        """
        with self._lock:
            safe = self._held_by(session)
            self._unroll_locked(safe, strict=True)
            LOG.info("%s: Safe Mode unrolled, %d action(s) undone", safe.holder.label, safe.actions)

    def _unroll_locked(self, safe: _SafeMode, *, strict: bool) -> None:
        current = self._save_state()
        menus, next_id, passwords = safe.saved
        self._restore(({m: [dict(r) for r in recs] for m, recs in menus.items()}, next_id, dict(passwords)))
        self._safe = None
        hook = self.on_change
        if hook is not None:
            try:
                hook(self._snapshot_locked(include_secrets=True))
            except Exception as exc:
                if strict:
                    self._restore(current)
                    self._safe = safe
                    LOG.warning("apply failed, Safe Mode unroll rolled back: %s", exc)
                    raise _apply_error(exc) from exc
                LOG.error("%s: Safe Mode undone, but applying the undone state failed: %s", safe.holder.label, exc)
        try:
            self._persist()
        except OSError as exc:
            if not strict:
                LOG.error("%s: Safe Mode undone, but saving it failed: %s", safe.holder.label, exc)
                return
            self._restore(current)
            self._safe = safe
            if hook is not None:
                with contextlib.suppress(Exception):
                    hook(self._snapshot_locked(include_secrets=True))
            raise _save_error(exc) from exc

    # ----------------------------------------------------------------------------------- commands

    def command(
        self,
        path: str,
        args: Mapping[str, object],
        query: Sequence[str] = (),
        *,
        session: Session | None = None,
    ) -> CommandResult:
        """Run a RouterOS command by its full path (``/ip/firewall/filter/add``) with attribute words.

        Both servers go through here, so the API and REST answer identically.  ``session``: who asks
        (the API's connection); Safe Mode needs one, REST has none.
        """
        norm = normalize_menu(path)
        if norm in _DIRECTORIES:
            raise RouterOsError(MSG["no_prefix"], 0)
        menu, _, cmd = norm.rpartition("/")
        if menu == SAFE_MODE_MENU and cmd in SAFE_MODE_COMMANDS:
            if args:
                raise RouterOsError(MSG["unknown_param"].format(next(iter(args))), 1)
            actions = {"take": self.safe_mode_take, "release": self.safe_mode_release, "unroll": self.safe_mode_unroll}
            actions[cmd](session)
            return CommandResult()
        spec = MENUS.get(menu or "/")
        if spec is None or cmd not in commands_of(spec):
            raise RouterOsError(MSG["no_cmd"].format(unknown_component(norm)), 0)
        rest: dict[str, Any] = dict(args)

        def take(*names: str) -> Any:
            for name in names:
                if name in rest:
                    return rest.pop(name)
            return None

        def no_extra() -> None:
            if rest:
                raise RouterOsError(MSG["unknown_param"].format(next(iter(rest))), 1)

        if cmd in ("print", "getall"):
            proplist = take(".proplist")
            count_only = "count-only" in rest
            rest.pop("count-only", None)
            for flag in _PRINT_FLAGS:
                rest.pop(flag, None)  # presentation flags: no meaning for an API client
            no_extra()
            rows = self.print(menu, proplist, query)
            if count_only:
                return CommandResult(done={"ret": str(len(rows))})
            return CommandResult(rows=rows)
        if cmd == "add":
            return CommandResult(done={"ret": self.add(menu, rest)})
        if cmd == "set":
            ids = take(".id", "numbers")
            self.set(menu, ids, rest)
        elif cmd == "unset":
            ids, names = take(".id", "numbers"), take("value-name")
            no_extra()
            self.unset(menu, ids, names if names is not None else "")
        elif cmd in ("enable", "disable"):
            ids = take(".id", "numbers")
            no_extra()
            self.set(menu, ids, {"disabled": "true" if cmd == "disable" else "false"})
        elif cmd == "remove":
            ids = take(".id", "numbers")
            no_extra()
            self.remove(menu, ids)
        elif cmd == "move":
            ids, dest = take("numbers", ".id"), take("destination")
            no_extra()
            self.move(menu, ids, _as_text("destination", dest) if dest is not None else None)
        return CommandResult()
