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
import contextlib
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..facts.router import RouterConfig, as_bool
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
    """Applies a configuration snapshot to the namespace: nftables ruleset and dnsmasq hosts."""

    def __init__(self, workdir: Path, dnsmasq_pid: Path | None):
        self.hosts = workdir / "hosts"
        self.dnsmasq_pid = dnsmasq_pid

    def __call__(self, config: RouterConfig) -> None:
        # One nft transaction for both families: the IPv6 filter is in place before IPv6 forwards.
        script = compile_ruleset(config, table=TABLE) + compile_ruleset(config, table=TABLE6, family=6)
        try:
            proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=15)
        except subprocess.TimeoutExpired:
            raise RouterOsError("failure: applying the firewall timed out") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["nft failed"])[-1]
            raise RouterOsError(f"failure: firewall could not be applied: {last}")
        self._ipv6(config)
        self._dns(config)

    def _ipv6(self, config: RouterConfig) -> None:
        """``/ipv6 settings`` and ``/ipv6 address`` onto the namespace (sysctls and ``ip -6 addr``)."""
        settings = (config.items("/ipv6/settings") or ({},))[0]
        disabled = as_bool(settings.get("disable-ipv6"), default=False)
        forward = as_bool(settings.get("forward"), default=True)
        wanted = set()
        for rec in config.items("/ipv6/address"):
            if as_bool(rec.get("disabled")) or as_bool(rec.get("dynamic")) or as_bool(rec.get("invalid")):
                continue
            wanted.add((rec.get("interface", ""), str(ipaddress.ip_interface(rec.get("address", "")))))
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

    def _dns(self, config: RouterConfig) -> None:
        lines = []
        for rec in config.items("/ip/dns/static"):
            if as_bool(rec.get("disabled")) or rec.get("type", "A") not in ("A", "") or not rec.get("address"):
                continue
            lines.append(f"{rec['address']} {rec['name']}")
        tmp = self.hosts.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
        tmp.replace(self.hosts)
        if self.dnsmasq_pid is not None and self.dnsmasq_pid.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(self.dnsmasq_pid.read_text().strip()), signal.SIGHUP)


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
