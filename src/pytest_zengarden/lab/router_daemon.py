"""The emulated router's process: the RouterOS emulator plus what makes it *real* — nftables and DNS.

Runs inside the router namespace (started by :mod:`pytest_zengarden.lab.lifecycle`).  On first start
the store is seeded from ``seed.json``; afterwards the persisted ``config.json`` wins (configuration
survives emulator restarts).  Every change is applied before it is acknowledged: the firewall and NAT
(``/ip``) and the IPv6 filter (``/ipv6``, a table of its own) are compiled to nftables and loaded
atomically in one transaction, ``/ipv6 settings`` and ``/ipv6 address`` become the namespace's IPv6
sysctls and addresses, static DNS is written for dnsmasq and dnsmasq is told to reload.  If applying
fails, the store rolls the change back and the client gets the error.  Router advertisements
(``/ipv6 nd``) are not sent: lab hosts that need IPv6 are given their addresses by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..facts.router import Record, RouterConfig, as_bool
from . import nft_lib
from .nft_compile import compile_ruleset
from .routeros import ConfigStore, Listener, RouterOsError, StoreOptions, run_emulator
from .routeros.tls import server_context

LOG = logging.getLogger("pytest_zengarden.lab.router_daemon")
TABLE = "zg_routeros"
TABLE6 = "zg_routeros6"  # table ip6: /ipv6 firewall filter
IPV6_SYSCTL = Path("/proc/sys/net/ipv6/conf")  # per network namespace: the daemon's own

# Seeding order: what a record references must exist before it (bridges before their ports, lists
# before members, address lists before the rules that use them).
SEED_ORDER = (
    "/system/identity",
    "/interface/bridge",
    "/interface/bridge/port",
    "/interface/wireguard",
    "/interface/wireguard/peers",
    "/interface/list",
    "/interface/list/member",
    "/ip/address",
    "/ip/dns",
    "/ip/dns/static",
    "/ip/firewall/address-list",
    "/ip/firewall/filter",
    "/ip/firewall/nat",
    "/ip/service",
    "/ipv6/settings",
    "/ipv6/address",
    "/ipv6/nd",
    "/ipv6/firewall/address-list",
    "/ipv6/firewall/filter",
)
SINGLETONS = ("/system/identity", "/ip/dns", "/ipv6/settings")


def seed_store(store: ConfigStore, seed: dict[str, list[dict[str, str]]]) -> None:
    """Load the seed records into an empty store, in dependency order."""
    unknown = set(seed) - set(SEED_ORDER) - {"/interface"}
    if unknown:
        raise ValueError(f"seed has menus the lab cannot load: {sorted(unknown)}")
    for menu in SEED_ORDER:
        for rec in seed.get(menu, []):
            if menu in SINGLETONS:
                store.set(menu, None, rec)
            elif menu == "/ipv6/nd" and rec.get("default") in ("true", "yes"):
                # The default entry exists on every router: seeding changes it, never adds a second.
                props = {k: v for k, v in rec.items() if k != "default"}
                ids = [r[".id"] for r in store.print(menu) if r.get("default") == "true"]
                store.set(menu, ids, props)
            elif menu == "/ip/service":
                props = {k: v for k, v in rec.items() if k != "name"}
                ids = [r[".id"] for r in store.print(menu) if r.get("name") == rec["name"]]
                if ids:
                    store.set(menu, ids, props)
            else:
                store.add(menu, rec)


class Applier:
    """Applies a configuration snapshot to the namespace: nftables ruleset, IPv6, dnsmasq hosts.

    Each part is applied only when its input differs from what the last *successful* call applied
    (the compiled nft script; the IPv6 settings and wanted addresses; the hosts lines), so a change
    to one menu costs what applying that menu costs.  Any failure forgets everything: the next call
    applies every part again, whatever the store restored meanwhile.  nft scripts run in-process
    through libnftables (:mod:`.nft_lib`) when it loads, else through ``nft -f -``.
    """

    def __init__(self, workdir: Path, dnsmasq_pid: Path | None, *, nft: Callable[[str], None] | None = None):
        self.hosts = workdir / "hosts"
        self.dnsmasq_pid = dnsmasq_pid
        self._nft = nft if nft is not None else _nft_apply
        self._compiled = _Compiled()
        # What the data plane holds since the last successful call, per part (None: apply it).
        self._applied: dict[str, object] = {}

    def __call__(self, config: RouterConfig) -> None:
        done, self._applied = self._applied, {}  # a failure below leaves nothing to skip next time
        script = self._compiled.script(config)
        if done.get("nft") != script:
            self._nft(script)
        ipv6 = _ipv6_input(config)
        if done.get("ipv6") != ipv6:
            self._ipv6(*ipv6)
        lines = _dns_lines(config)
        dns: tuple[str, ...] | None = lines
        if done.get("dns") != lines and not self._dns(lines):
            dns = None  # dnsmasq was not told (not running yet): write and signal again next time
        self._applied = {"nft": script, "ipv6": ipv6, "dns": dns}

    def _ipv6(self, disabled: bool, forward: bool, wanted: frozenset[tuple[str, str]]) -> None:
        """``/ipv6 settings`` and ``/ipv6 address`` onto the namespace (sysctls and ``ip -6 addr``)."""
        if not IPV6_SYSCTL.exists():
            if wanted and not disabled:
                raise RouterOsError("failure: this kernel has no IPv6; /ipv6 address cannot be applied")
            return  # nothing to turn off on a kernel without IPv6
        for scope in ("all", "default"):
            _sysctl(IPV6_SYSCTL / scope / "disable_ipv6", disabled)
        if not disabled:
            # Addresses the router holds beyond link-local, as Linux sees them now.
            proc = _ip("-6", "-j", "addr", "show")
            have = {
                (link["ifname"], f"{a['local']}/{a['prefixlen']}")
                for link in json.loads(proc or "[]")
                for a in link.get("addr_info", [])
                if a.get("family") == "inet6" and a.get("scope") not in ("link", "host")
            }
            for iface, addr in sorted(have - wanted):
                _ip("-6", "addr", "del", addr, "dev", iface)
            for iface, addr in sorted(wanted - have):
                _ip("-6", "addr", "add", addr, "dev", iface, "nodad")
        _sysctl(IPV6_SYSCTL / "all" / "forwarding", forward and not disabled)

    def _dns(self, lines: tuple[str, ...]) -> bool:
        """Write the hosts file and tell dnsmasq; False if there was a dnsmasq to tell but it was not told."""
        tmp = self.hosts.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
        tmp.replace(self.hosts)
        if self.dnsmasq_pid is None:
            return True
        try:
            os.kill(int(self.dnsmasq_pid.read_text().strip()), signal.SIGHUP)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False  # no pid (yet), or no such process: dnsmasq reads the file when it starts
        return True


class _Reads(Mapping[str, tuple[Record, ...]]):
    """A configuration's menus that note which of them were looked at (``whole``: all of them)."""

    def __init__(self, menus: Mapping[str, tuple[Record, ...]]):
        self.menus = menus
        self.read: set[str] = set()
        self.whole = False

    def __getitem__(self, key: str) -> tuple[Record, ...]:
        self.read.add(key)
        return self.menus[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self.menus

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(self.menus)

    def __len__(self) -> int:
        self.whole = True
        return len(self.menus)


class _Compiled:
    """The nft script for a configuration, compiled again only when a menu the compiler read changed.

    The compiler is a pure function of the configuration, which it reads only through its menus: the
    menus it read last time (and their records, immutable) decide whether the last script still holds.
    """

    def __init__(self) -> None:
        self._names: tuple[str, ...] | None = None  # the menus the last compile read; () with _whole
        self._whole = False  # it iterated the menus: every menu, even one added later, may matter
        self._key: tuple[object, ...] = ()
        self._script = ""

    def _key_of(self, config: RouterConfig, names: tuple[str, ...]) -> tuple[object, ...]:
        if self._whole:
            names = tuple(sorted(config.menus))
        return (config.source, config.readable, names, tuple(config.menus.get(m) for m in names))

    def script(self, config: RouterConfig) -> str:
        if self._names is not None and self._key_of(config, self._names) == self._key:
            return self._script
        self._names = None
        reads = _Reads(config.menus)
        traced = replace(config, menus=reads)
        # One nft transaction for both families: the IPv6 filter is in place before IPv6 forwards.
        script = compile_ruleset(traced, table=TABLE) + compile_ruleset(traced, table=TABLE6, family=6)
        self._whole = reads.whole
        names = tuple(sorted(reads.read))
        self._key, self._script, self._names = self._key_of(config, names), script, names
        return script


def _ipv6_input(config: RouterConfig) -> tuple[bool, bool, frozenset[tuple[str, str]]]:
    """What :meth:`Applier._ipv6` applies: disable-ipv6, forward, and the (interface, address) pairs."""
    settings = (config.items("/ipv6/settings") or ({},))[0]
    disabled = as_bool(settings.get("disable-ipv6"), default=False)
    forward = as_bool(settings.get("forward"), default=True)
    wanted = set()
    for rec in config.items("/ipv6/address"):
        if as_bool(rec.get("disabled")) or as_bool(rec.get("dynamic")) or as_bool(rec.get("invalid")):
            continue
        wanted.add((rec.get("interface", ""), str(ipaddress.ip_interface(rec.get("address", "")))))
    return disabled, forward, frozenset(wanted)


def _dns_lines(config: RouterConfig) -> tuple[str, ...]:
    """The dnsmasq hosts lines for ``/ip dns static`` (enabled A records with an address)."""
    lines = []
    for rec in config.items("/ip/dns/static"):
        if as_bool(rec.get("disabled")) or rec.get("type", "A") not in ("A", "") or not rec.get("address"):
            continue
        lines.append(f"{rec['address']} {rec['name']}")
    return tuple(lines)


def _nft_apply(script: str) -> None:
    """Load ``script`` as one nft transaction: libnftables in-process, ``nft -f -`` without it."""
    lib = nft_lib.load()
    if lib is not None:
        try:
            res = lib.run(script)
        except OSError as exc:  # no context (e.g. out of memory): the binary may still manage
            LOG.warning("libnftables failed (%s); running nft instead", exc)
        else:
            if res.rc != 0:
                raise RouterOsError(f"failure: firewall could not be applied: {_last_line(res.error)}")
            return
    try:
        proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        raise RouterOsError("failure: applying the firewall timed out") from None
    if proc.returncode != 0:
        raise RouterOsError(f"failure: firewall could not be applied: {_last_line(proc.stderr)}")


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["nft failed"])[-1]


def _sysctl(path: Path, on: bool) -> None:
    try:
        path.write_text("1\n" if on else "0\n")
    except OSError as exc:
        raise RouterOsError(f"failure: cannot set {path}: {exc.strerror or exc}") from None


def _ip(*args: str) -> str:
    try:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        raise RouterOsError(f"failure: ip {' '.join(args)} timed out") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["ip failed"])[-1]
        raise RouterOsError(f"failure: ip {' '.join(args)}: {last}")
    return proc.stdout


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pytest_zengarden.lab.router_daemon")
    p.add_argument("--dir", required=True, type=Path, help="router state directory (seed.json, config.json)")
    p.add_argument("--user", required=True, help="NAME:PASSWORD_FILE of the lab's API user")
    p.add_argument("--cert", required=True, type=Path)
    p.add_argument("--key", required=True, type=Path)
    p.add_argument("--ready-file", type=Path)
    p.add_argument("--dnsmasq-pid", type=Path)
    p.add_argument("--api-port", type=int, default=8728)
    p.add_argument("--api-ssl-port", type=int, default=8729)
    p.add_argument("--rest-port", type=int, default=80)
    p.add_argument("--rest-ssl-port", type=int, default=443)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    name, _, pw_file = args.user.partition(":")
    password = Path(pw_file).read_text().strip()
    seed: dict[str, Any] = json.loads((args.dir / "seed.json").read_text())
    ports = tuple(r["name"] for r in seed.get("/interface", []) if r.get("type") == "ether")
    state = args.dir / "config.json"
    fresh = not state.exists()
    store = ConfigStore(state, options=StoreOptions(interfaces=ports), users={name: password})
    if fresh:
        seed_store(store, seed)
        LOG.info("seeded the configuration from seed.json (%d menus)", len(seed))
    listeners = [
        Listener("api", "0.0.0.0", args.api_port),
        Listener("api-ssl", "0.0.0.0", args.api_ssl_port),
        Listener("rest", "0.0.0.0", args.rest_port),
        Listener("rest-ssl", "0.0.0.0", args.rest_ssl_port),
    ]
    stop = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_emulator(
            store,
            listeners,
            ssl_context=server_context(args.cert, args.key),
            on_change=Applier(args.dir, args.dnsmasq_pid),
            stop=stop,
            ready_file=args.ready_file,
        )

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
